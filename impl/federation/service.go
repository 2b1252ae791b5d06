// Package federation implements the Federation service on its generated ogen server:
// health and readiness (later: peers over mTLS, run placement and A2A interop).
package federation

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/nexixai/agentos/gen/federationapi"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/health"
	"github.com/nexixai/agentos/internal/httpserver"
)

// ServiceName is the name Federation reports in health and metrics.
const ServiceName = "federation"

// Config is what Federation needs from the platform configuration.
type Config struct {
	Version      string
	MaxBodyBytes int64
}

// Service implements federationapi.Handler.
type Service struct {
	cfg    Config
	db     *db.DB
	logger *slog.Logger
}

var _ federationapi.Handler = (*Service)(nil)

// New returns the Federation service.
func New(cfg Config, d *db.DB, logger *slog.Logger) *Service {
	return &Service{cfg: cfg, db: d, logger: logger}
}

// Handler returns the service's HTTP handler with /metrics beside it.
func (s *Service) Handler(m *httpserver.Metrics, inner func(http.Handler) http.Handler) (http.Handler, error) {
	srv, err := federationapi.NewServer(s,
		federationapi.WithErrorHandler(httpserver.ErrorHandler),
		federationapi.WithNotFound(httpserver.NotFound),
		federationapi.WithMethodNotAllowed(httpserver.MethodNotAllowed),
	)
	if err != nil {
		return nil, err
	}
	return httpserver.Handler(srv, httpserver.Options{
		Service:      ServiceName,
		Logger:       s.logger,
		MaxBodyBytes: s.cfg.MaxBodyBytes,
		Metrics:      m,
		FindRoute:    httpserver.Routes(srv.FindRoute),
	}, inner), nil
}

// GetHealth implements getHealth.
func (s *Service) GetHealth(context.Context) (*federationapi.Health, error) {
	return &federationapi.Health{Status: federationapi.HealthStatusOk, Service: ServiceName, Version: s.cfg.Version}, nil
}

// GetReadiness implements getReadiness.
func (s *Service) GetReadiness(ctx context.Context) (*federationapi.Readiness, error) {
	checks, err := health.Check(ctx, map[string]health.Pinger{"database": s.db})
	if err != nil {
		return nil, err
	}
	return &federationapi.Readiness{Status: federationapi.ReadinessStatusReady, Service: ServiceName, Checks: checks}, nil
}

// NewError implements the convenient-errors hook: every error becomes a problem.
func (s *Service) NewError(ctx context.Context, err error) *federationapi.ProblemStatusCode {
	p := httpserver.ProblemFor(ctx, err)
	out := federationapi.Problem{
		Type:      p.Type,
		Title:     p.Title,
		Status:    int32(p.Status),
		Detail:    federationapi.NewOptString(p.Detail),
		Code:      p.Code,
		RequestID: federationapi.NewOptString(p.RequestID),
	}
	for _, f := range p.Errors {
		out.Errors = append(out.Errors, federationapi.FieldError{Field: f.Field, Reason: f.Reason})
	}
	return &federationapi.ProblemStatusCode{StatusCode: p.Status, Response: out}
}
