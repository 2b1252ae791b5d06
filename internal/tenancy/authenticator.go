package tenancy

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/runtoken"
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
	runTokens  *runtoken.Signer // nil: run tokens are not accepted
	now        func() time.Time
}

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithRunTokens makes the Authenticator accept run tokens signed by s as bearer
// credentials, in every auth mode.
func WithRunTokens(s *runtoken.Signer) Option {
	return func(a *Authenticator) { a.runTokens = s }
}

// WithClock sets the clock run tokens are checked against (tests).
func WithClock(now func() time.Time) Option {
	return func(a *Authenticator) { a.now = now }
}

// NewAuthenticator returns an Authenticator for mode. verifier must be non-nil in jwt mode.
func NewAuthenticator(mode, adminToken, adminRole string, verifier *Verifier, tenants TenantChecker, opts ...Option) (*Authenticator, error) {
	if mode == config.AuthModeJWT && verifier == nil {
		return nil, errors.New("jwt auth mode needs a token verifier")
	}
	a := &Authenticator{mode: mode, adminToken: adminToken, adminRole: adminRole, verifier: verifier, tenants: tenants, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	return a, nil
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

// Bearer handles the bearerAuth scheme: a run token in every mode (when the
// Authenticator has the run token key), else a JWT in jwt mode. In dev mode any other
// bearer token is not a tenant credential and is ignored.
func (a *Authenticator) Bearer(ctx context.Context, token string) (context.Context, error) {
	if runtoken.Is(token) && (a.runTokens != nil || a.mode == config.AuthModeJWT) {
		return a.runToken(ctx, token)
	}
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

// runToken resolves a run token to the worker executing the run, in the run's tenant. It
// never grants admin: Admin does not accept run tokens.
func (a *Authenticator) runToken(ctx context.Context, token string) (context.Context, error) {
	if a.runTokens == nil {
		return ctx, apierr.New(apierr.CodeUnauthenticated, "invalid bearer token: this service accepts no run tokens (no run token key)")
	}
	c, err := a.runTokens.Verify(token, a.now())
	if err != nil {
		return ctx, apierr.Wrap(err, apierr.CodeUnauthenticated, "invalid bearer token: %s", err.Error())
	}
	if err := a.checkTenant(ctx, c.TenantID); err != nil {
		return ctx, err
	}
	return WithPrincipal(ctx, Principal{
		TenantID:    c.TenantID,
		PrincipalID: RunPrincipalPrefix + c.WorkerID,
		AuthMode:    a.mode,
		Token:       token,
		RunID:       c.RunID,
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
