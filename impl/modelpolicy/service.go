// Package modelpolicy implements the Model Policy service on its generated ogen server:
// health and readiness (later: the OpenAI-compatible gateway, policy and metering).
package modelpolicy

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/health"
	"github.com/nexixai/agentos/internal/httpserver"
)

// ServiceName is the name Model Policy reports in health and metrics.
const ServiceName = "modelpolicy"

// Config is what Model Policy needs from the platform configuration.
type Config struct {
	Version      string
	MaxBodyBytes int64
}

// Service implements modelpolicyapi.Handler.
type Service struct {
	cfg    Config
	db     *db.DB
	logger *slog.Logger
}

var _ modelpolicyapi.Handler = (*Service)(nil)

// New returns the Model Policy service.
func New(cfg Config, d *db.DB, logger *slog.Logger) *Service {
	return &Service{cfg: cfg, db: d, logger: logger}
}

// Handler returns the service's HTTP handler with /metrics beside it.
func (s *Service) Handler(m *httpserver.Metrics, inner func(http.Handler) http.Handler) (http.Handler, error) {
	srv, err := modelpolicyapi.NewServer(s,
		modelpolicyapi.WithErrorHandler(httpserver.ErrorHandler),
		modelpolicyapi.WithNotFound(httpserver.NotFound),
		modelpolicyapi.WithMethodNotAllowed(httpserver.MethodNotAllowed),
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
func (s *Service) GetHealth(context.Context) (*modelpolicyapi.Health, error) {
	return &modelpolicyapi.Health{Status: modelpolicyapi.HealthStatusOk, Service: ServiceName, Version: s.cfg.Version}, nil
}

// GetReadiness implements getReadiness.
func (s *Service) GetReadiness(ctx context.Context) (*modelpolicyapi.Readiness, error) {
	checks, err := health.Check(ctx, map[string]health.Pinger{"database": s.db})
	if err != nil {
		return nil, err
	}
	return &modelpolicyapi.Readiness{Status: modelpolicyapi.ReadinessStatusReady, Service: ServiceName, Checks: checks}, nil
}

// NewError implements the convenient-errors hook: every error becomes a problem.
func (s *Service) NewError(ctx context.Context, err error) *modelpolicyapi.ProblemStatusCode {
	p := httpserver.ProblemFor(ctx, err)
	out := modelpolicyapi.Problem{
		Type:      p.Type,
		Title:     p.Title,
		Status:    int32(p.Status),
		Detail:    modelpolicyapi.NewOptString(p.Detail),
		Code:      p.Code,
		RequestID: modelpolicyapi.NewOptString(p.RequestID),
	}
	for _, f := range p.Errors {
		out.Errors = append(out.Errors, modelpolicyapi.FieldError{Field: f.Field, Reason: f.Reason})
	}
	return &modelpolicyapi.ProblemStatusCode{StatusCode: p.Status, Response: out}
}
