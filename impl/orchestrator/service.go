// Package orchestrator implements the Agent Orchestrator service on its generated ogen
// server: health, readiness, the caller's identity and tenant administration (later:
// agents, runs, the event log and the worker lease protocol).
package orchestrator

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/health"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/tenancy"
	"github.com/nexixai/agentos/internal/tenant"
)

// ServiceName is the name the orchestrator reports in health and metrics.
const ServiceName = "orchestrator"

// Config is what the orchestrator needs from the platform configuration.
type Config struct {
	Version       string
	DefaultTenant string
	MaxBodyBytes  int64
}

// Service implements orchestratorapi.Handler.
type Service struct {
	cfg     Config
	db      *db.DB
	audit   *audit.Logger
	auth    *tenancy.Authenticator
	tenants *tenant.Cache
	logger  *slog.Logger
	now     func() time.Time
}

var (
	_ orchestratorapi.Handler         = (*Service)(nil)
	_ orchestratorapi.SecurityHandler = security{}
)

// New returns the orchestrator service.
func New(cfg Config, d *db.DB, auditLog *audit.Logger, auth *tenancy.Authenticator, tenants *tenant.Cache, logger *slog.Logger) *Service {
	return &Service{cfg: cfg, db: d, audit: auditLog, auth: auth, tenants: tenants, logger: logger, now: time.Now}
}

// Handler returns the service's HTTP handler: the generated server inside the shared
// middleware chain, with /metrics beside it.
func (s *Service) Handler(m *httpserver.Metrics, inner func(http.Handler) http.Handler) (http.Handler, error) {
	srv, err := orchestratorapi.NewServer(s, security{s.auth},
		orchestratorapi.WithErrorHandler(httpserver.ErrorHandler),
		orchestratorapi.WithNotFound(httpserver.NotFound),
		orchestratorapi.WithMethodNotAllowed(httpserver.MethodNotAllowed),
	)
	if err != nil {
		return nil, err
	}
	var api http.Handler = srv
	if inner != nil {
		api = inner(api) // tests only: fault injection inside the middleware chain
	}
	return httpserver.Mux(httpserver.Wrap(api, httpserver.Options{
		Service:      ServiceName,
		Logger:       s.logger,
		MaxBodyBytes: s.cfg.MaxBodyBytes,
		Metrics:      m,
		FindRoute: func(method, path string) (string, bool) {
			r, ok := srv.FindRoute(method, path)
			return r.OperationID(), ok
		},
	}), m), nil
}

// GetHealth implements getHealth.
func (s *Service) GetHealth(context.Context) (*orchestratorapi.Health, error) {
	return &orchestratorapi.Health{Status: orchestratorapi.HealthStatusOk, Service: ServiceName, Version: s.cfg.Version}, nil
}

// GetReadiness implements getReadiness.
func (s *Service) GetReadiness(ctx context.Context) (*orchestratorapi.Readiness, error) {
	checks, err := health.Check(ctx, map[string]health.Pinger{"database": s.db})
	if err != nil {
		return nil, err
	}
	return &orchestratorapi.Readiness{Status: orchestratorapi.ReadinessStatusReady, Service: ServiceName, Checks: checks}, nil
}

// GetCaller implements getCaller.
func (s *Service) GetCaller(ctx context.Context) (*orchestratorapi.Caller, error) {
	p, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errors.New("no principal on an authenticated operation")
	}
	return &orchestratorapi.Caller{
		TenantID:    orchestratorapi.TenantId(p.TenantID),
		PrincipalID: p.PrincipalID,
		AuthMode:    orchestratorapi.CallerAuthMode(p.AuthMode),
	}, nil
}

// NewError implements the convenient-errors hook: every error becomes a problem.
func (s *Service) NewError(ctx context.Context, err error) *orchestratorapi.ProblemStatusCode {
	p := httpserver.ProblemFor(ctx, err)
	out := orchestratorapi.Problem{
		Type:      p.Type,
		Title:     p.Title,
		Status:    int32(p.Status),
		Detail:    orchestratorapi.NewOptString(p.Detail),
		Code:      p.Code,
		RequestID: orchestratorapi.NewOptString(p.RequestID),
	}
	for _, f := range p.Errors {
		out.Errors = append(out.Errors, orchestratorapi.FieldError{Field: f.Field, Reason: f.Reason})
	}
	return &orchestratorapi.ProblemStatusCode{StatusCode: p.Status, Response: out}
}

// security adapts the shared Authenticator to the generated SecurityHandler.
type security struct{ auth *tenancy.Authenticator }

func (s security) HandleTenantHeader(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.TenantHeader) (context.Context, error) {
	ctx, err := s.auth.TenantHeader(ctx, t.APIKey)
	noteTenant(ctx)
	return ctx, err
}

func (s security) HandleBearerAuth(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.BearerAuth) (context.Context, error) {
	ctx, err := s.auth.Bearer(ctx, t.Token)
	noteTenant(ctx)
	return ctx, err
}

func (s security) HandleAdminToken(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.AdminToken) (context.Context, error) {
	return s.auth.Admin(ctx, t.Token)
}

func noteTenant(ctx context.Context) {
	if p, ok := tenancy.FromContext(ctx); ok {
		httpserver.SetTenant(ctx, p.TenantID)
	}
}
