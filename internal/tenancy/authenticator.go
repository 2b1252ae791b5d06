package tenancy

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/config"
)

// TenantChecker answers whether a tenant exists (a cached store in production).
type TenantChecker interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Authenticator implements the three security schemes of the AgentOS specs.
type Authenticator struct {
	mode       string
	adminToken string
	adminRole  string
	verifier   *Verifier // nil in dev mode
	tenants    TenantChecker
}

// NewAuthenticator returns an Authenticator for mode. verifier must be non-nil in jwt mode.
func NewAuthenticator(mode, adminToken, adminRole string, verifier *Verifier, tenants TenantChecker) (*Authenticator, error) {
	if mode == config.AuthModeJWT && verifier == nil {
		return nil, errors.New("jwt auth mode needs a token verifier")
	}
	return &Authenticator{mode: mode, adminToken: adminToken, adminRole: adminRole, verifier: verifier, tenants: tenants}, nil
}

// Mode returns the auth mode.
func (a *Authenticator) Mode() string { return a.mode }

// TenantHeader handles the tenantHeader scheme (X-Tenant-Id). Only dev mode accepts it;
// in jwt mode the header is ignored, so a request with nothing else is unauthenticated.
func (a *Authenticator) TenantHeader(ctx context.Context, tenantID string) (context.Context, error) {
	if a.mode != config.AuthModeDev {
		return ctx, ogenerrors.ErrSkipServerSecurity
	}
	if err := a.checkTenant(ctx, tenantID); err != nil {
		return ctx, err
	}
	p := Principal{TenantID: tenantID, PrincipalID: AnonymousPrincipal, AuthMode: a.mode}
	if prev, ok := FromContext(ctx); ok && prev.PrincipalID != "" {
		p.PrincipalID = prev.PrincipalID
	}
	return WithPrincipal(ctx, p), nil
}

// Bearer handles the bearerAuth scheme: a JWT in jwt mode. In dev mode a bearer token is
// not a tenant credential and is ignored.
func (a *Authenticator) Bearer(ctx context.Context, token string) (context.Context, error) {
	if a.mode != config.AuthModeJWT {
		return ctx, ogenerrors.ErrSkipServerSecurity
	}
	claims, err := a.verifier.Verify(ctx, token)
	if err != nil {
		return ctx, apierr.Wrap(err, apierr.CodeUnauthenticated, "invalid bearer token: %s", err.Error())
	}
	if claims.TenantID == "" {
		return ctx, apierr.New(apierr.CodeUnauthenticated, "token carries no tenant_id or tid claim")
	}
	if err := a.checkTenant(ctx, claims.TenantID); err != nil {
		return ctx, err
	}
	return WithPrincipal(ctx, Principal{
		TenantID:    claims.TenantID,
		PrincipalID: claims.PrincipalID,
		Roles:       claims.Roles,
		Admin:       slices.Contains(claims.Roles, a.adminRole),
		AuthMode:    a.mode,
		Token:       token,
	}), nil
}

// Admin handles the adminToken scheme: the configured admin token in any mode, or in jwt
// mode a verified JWT carrying the admin role. A valid JWT without the role is a 403.
func (a *Authenticator) Admin(ctx context.Context, token string) (context.Context, error) {
	if a.adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.adminToken)) == 1 {
		return WithPrincipal(ctx, Principal{PrincipalID: AdminPrincipal, Admin: true, AuthMode: a.mode}), nil
	}
	if a.mode != config.AuthModeJWT || !looksLikeJWT(token) {
		return ctx, apierr.New(apierr.CodeUnauthenticated, "invalid admin credential")
	}
	claims, err := a.verifier.Verify(ctx, token)
	if err != nil {
		return ctx, apierr.Wrap(err, apierr.CodeUnauthenticated, "invalid bearer token: %s", err.Error())
	}
	if !slices.Contains(claims.Roles, a.adminRole) {
		return ctx, apierr.New(apierr.CodePermissionDenied, "the admin API needs the %q role", a.adminRole)
	}
	return WithPrincipal(ctx, Principal{
		TenantID: claims.TenantID, PrincipalID: claims.PrincipalID, Roles: claims.Roles, Admin: true, AuthMode: a.mode,
	}), nil
}

func (a *Authenticator) checkTenant(ctx context.Context, id string) error {
	if !config.ValidTenantID(id) {
		return &apierr.Error{
			Code:    apierr.CodeInvalidArgument,
			Message: fmt.Sprintf("invalid tenant id %q: lower-case letters, digits, _ and -, 2-63 characters", truncate(id, 80)),
			Fields:  []apierr.FieldError{{Field: "X-Tenant-Id", Reason: "invalid tenant id"}},
		}
	}
	ok, err := a.tenants.Exists(ctx, id)
	if err != nil {
		return apierr.Wrap(err, apierr.CodeUnavailable, "tenant lookup unavailable")
	}
	if !ok {
		return apierr.New(apierr.CodeTenantNotFound, "tenant %q not found", id)
	}
	return nil
}

func looksLikeJWT(s string) bool {
	dots := 0
	for i := range len(s) {
		if s[i] == '.' {
			dots++
		}
	}
	return dots == 2
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
