// Package tenancy resolves who a request runs as: the tenant and the principal, from
// X-Tenant-Id in dev mode, from a verified JWT in jwt mode, or from a run token (a
// worker acting for a run, any mode), and whether the caller holds the admin credential.
// Each service's ogen SecurityHandler forwards to an Authenticator.
package tenancy

import (
	"context"

	"github.com/nexixai/agentos/internal/apierr"
)

// Principal is the identity a request runs as.
type Principal struct {
	TenantID    string
	PrincipalID string
	Roles       []string
	// Admin is true for the admin credential (AGENTOS_ADMIN_TOKEN or the admin role).
	Admin bool
	// AuthMode is the mode that resolved the principal ("dev" or "jwt").
	AuthMode string
	// Token is the bearer JWT or run token the request carried, for calls made on its
	// behalf (the orchestrator forwards it to Model Policy for memory embeddings).
	Token string
	// RunID is set when the credential was a run token: the run the worker acts for.
	RunID string
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

// RunPrincipalPrefix starts the principal of a request made with a run token; the
// worker's id follows.
const RunPrincipalPrefix = "worker:"

// AdminPrincipal names the principal of a request made with AGENTOS_ADMIN_TOKEN.
const AdminPrincipal = "admin"

// RunTokenMay refuses an operation outside allowed to a principal resolved from a run
// token: a worker acts for its run's tenant only in what the agent loop needs.
func RunTokenMay(ctx context.Context, op string, allowed map[string]bool) error {
	if p, ok := FromContext(ctx); ok && p.RunID != "" && !allowed[op] {
		return apierr.New(apierr.CodePermissionDenied, "a run token may not call %s: it acts for its run's tenant only in the agent loop's operations", op)
	}
	return nil
}
