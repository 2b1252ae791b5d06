// Package tenancy resolves who a request runs as: the tenant and the principal, from
// X-Tenant-Id in dev mode or from a verified JWT in jwt mode, and whether the caller holds
// the admin credential. Each service's ogen SecurityHandler forwards to an Authenticator.
package tenancy

import "context"

// Principal is the identity a request runs as.
type Principal struct {
	TenantID    string
	PrincipalID string
	Roles       []string
	// Admin is true for the admin credential (AGENTOS_ADMIN_TOKEN or the admin role).
	Admin bool
	// AuthMode is the mode that resolved the principal ("dev" or "jwt").
	AuthMode string
	// Token is the bearer JWT the request carried (jwt mode), for calls made on its behalf.
	Token string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal resolved for the request, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// AnonymousPrincipal names the principal of a dev-mode request that carries no identity.
const AnonymousPrincipal = "anonymous"

// AdminPrincipal names the principal of a request made with AGENTOS_ADMIN_TOKEN.
const AdminPrincipal = "admin"
