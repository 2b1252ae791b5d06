// Package modelpolicy implements the Model Policy service on its generated ogen server:
// the OpenAI-compatible model gateway (chat completions with streaming and tool calls,
// embeddings, model listing), where every call is decided by OPA Rego policy, metered
// against per-tenant quotas, routed to a deployment of the model and audited; policy dry
// runs; usage reports; and the tenants' API keys.
package modelpolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/impl/modelpolicy/apikey"
	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/impl/modelpolicy/quota"
	"github.com/nexixai/agentos/impl/modelpolicy/usage"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/health"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/internal/tenancy"
	"github.com/nexixai/agentos/internal/tenant"
	"github.com/nexixai/agentos/policy"
)

// ServiceName is the name Model Policy reports in health and metrics.
const ServiceName = "modelpolicy"

// Config is what Model Policy needs from the platform configuration.
type Config struct {
	Version      string
	MaxBodyBytes int64
	// ProvidersFile is the model providers file; "" serves the builtin models only.
	ProvidersFile string
	// PolicyDir is the policy directory, hot-reloaded; "" serves the embedded bundle.
	PolicyDir string
	// QuotaInvokeQPS and QuotaTokensPerMinute are the default per-tenant quotas
	// (0: unlimited); a tenant's own quotas override them.
	QuotaInvokeQPS       int64
	QuotaTokensPerMinute int64
	// LookupEnv resolves the api_key_env variables the providers file names.
	LookupEnv func(string) (string, bool)
	// Metrics is the service's registry; the gateway's series are added to it.
	Metrics *httpserver.Metrics
	// Transport overrides the HTTP transport to upstreams (tests).
	Transport http.RoundTripper
}

// Service implements modelpolicyapi.Handler and modelpolicyapi.RawHandler.
type Service struct {
	cfg     Config
	db      *db.DB
	audit   *audit.Logger
	batch   *audit.Batcher
	auth    *tenancy.Authenticator
	tenants *tenant.Cache
	logger  *slog.Logger
	now     func() time.Time
	started time.Time

	router   *provider.Router
	policy   *policyeval.Engine
	limiter  *quota.Limiter
	quotas   quota.Store
	recorder *usage.Recorder
	keys     *apikey.Cache
	info     *tenantInfoCache
	metrics  *gatewayMetrics

	stopSweep chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var (
	_ modelpolicyapi.Handler         = (*Service)(nil)
	_ modelpolicyapi.RawHandler      = (*Service)(nil)
	_ modelpolicyapi.SecurityHandler = security{}
)

// New builds Model Policy: the providers and routes of the providers file, the policy
// engine (watching PolicyDir), quotas, the usage recorder and the audit batcher. A bad
// providers file or a policy that does not compile is an error. Close releases it.
func New(ctx context.Context, cfg Config, d *db.DB, auditLog *audit.Logger, auth *tenancy.Authenticator, tenants *tenant.Cache, logger *slog.Logger) (*Service, error) {
	if cfg.Metrics == nil {
		cfg.Metrics = httpserver.NewMetrics(ServiceName)
	}
	s := &Service{
		cfg: cfg, db: d, audit: auditLog, auth: auth, tenants: tenants, logger: logger,
		now: time.Now, started: time.Now(), stopSweep: make(chan struct{}),
	}
	s.metrics = newGatewayMetrics(cfg.Metrics.Registry)
	file, err := provider.LoadFile(cfg.ProvidersFile, cfg.LookupEnv)
	if err != nil {
		return nil, err
	}
	s.router, err = provider.NewRouter(file, provider.RouterOptions{
		Metrics: provider.NewMetrics(cfg.Metrics.Registry), Logger: logger, LookupEnv: cfg.LookupEnv, Transport: cfg.Transport,
	})
	if err != nil {
		return nil, err
	}
	s.policy, err = policyeval.New(ctx, policyeval.Options{
		Dir: cfg.PolicyDir, Embedded: policy.Bundle, Logger: logger,
		OnReload: func(_ string, err error) { s.metrics.reload(err) },
	})
	if err != nil {
		return nil, err
	}
	if err := s.policy.Watch(); err != nil {
		return nil, err
	}
	if d.Dialect == db.DialectPostgres {
		s.quotas = quota.NewDBStore(d.DB)
	} else {
		s.quotas = quota.NewMemoryStore() // SQLite is single-process: memory is exact
	}
	s.limiter = quota.NewLimiter(s.quotas)
	s.recorder = usage.NewRecorder(d.DB, s.quotas, usage.Options{Logger: logger})
	s.batch = auditLog.NewBatcher(audit.BatchOptions{})
	s.keys = apikey.NewCache(d.DB, 5*time.Second)
	s.info = newTenantInfoCache(d, 2*time.Second)
	s.wg.Go(s.sweepLoop)
	logger.Info("model policy ready", "models", s.router.ModelNames(), "policy_source", s.policy.Status().Source,
		"policy_revision", s.policy.Revision())
	return s, nil
}

// Close stops the policy watcher and writes the queued usage and audit records.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		s.wg.Wait()
		s.policy.Close()
		s.recorder.Close()
		s.batch.Close()
	})
}

func (s *Service) sweepLoop() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.limiter.Sweep(ctx); err != nil {
				s.logger.Warn("sweep quota counters", "error", err)
			}
			cancel()
		}
	}
}

// Router returns the gateway's router (for tests and benchmarks).
func (s *Service) Router() *provider.Router { return s.router }

// Policy returns the policy engine.
func (s *Service) Policy() *policyeval.Engine { return s.policy }

// Handler returns the service's HTTP handler with /metrics beside it.
func (s *Service) Handler(m *httpserver.Metrics, inner func(http.Handler) http.Handler) (http.Handler, error) {
	srv, err := modelpolicyapi.NewServer(s, s, security{s},
		modelpolicyapi.WithErrorHandler(errorHandler),
		modelpolicyapi.WithNotFound(notFound),
		modelpolicyapi.WithMethodNotAllowed(methodNotAllowed),
		modelpolicyapi.WithMiddleware(rawBodyMiddleware),
	)
	if err != nil {
		return nil, err
	}
	return httpserver.Handler(srv, httpserver.Options{
		Service:      ServiceName,
		Logger:       s.logger,
		MaxBodyBytes: s.cfg.MaxBodyBytes,
		Metrics:      m,
		WriteProblem: writeProblem,
		FindRoute:    httpserver.Routes(srv.FindRoute),
	}, inner), nil
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

// security adapts the shared Authenticator to the generated SecurityHandler and adds
// the API-key path: a bearer token that starts with sk-agentos- is looked up (hashed,
// cached) before any JWT verification.
type security struct{ s *Service }

// AuthAPIKey is the AuthMode of a principal resolved from an API key.
const AuthAPIKey = "api_key"

func (sec security) HandleTenantHeader(ctx context.Context, _ modelpolicyapi.OperationName, t modelpolicyapi.TenantHeader) (context.Context, error) {
	ctx, err := sec.s.auth.TenantHeader(ctx, t.APIKey)
	noteTenant(ctx)
	return ctx, err
}

func (sec security) HandleBearerAuth(ctx context.Context, op modelpolicyapi.OperationName, t modelpolicyapi.BearerAuth) (context.Context, error) {
	if len(t.Token) > len(apikey.Prefix) && t.Token[:len(apikey.Prefix)] == apikey.Prefix {
		ctx, err := sec.s.apiKeyPrincipal(ctx, t.Token)
		noteTenant(ctx)
		return ctx, err
	}
	ctx, err := sec.s.auth.Bearer(ctx, t.Token)
	noteTenant(ctx)
	if err == nil {
		err = tenancy.RunTokenMay(ctx, string(op), runTokenOperations)
	}
	return ctx, err
}

// runTokenOperations are what a run token (a worker acting for its run's tenant) may do
// here: the model calls of the agent loop, its tool-call decisions and the model list.
var runTokenOperations = map[string]bool{
	string(modelpolicyapi.CreateChatCompletionOperation): true, string(modelpolicyapi.CreateEmbeddingOperation): true,
	string(modelpolicyapi.AuthorizeToolCallOperation): true, string(modelpolicyapi.ListModelsOperation): true,
}

func (sec security) HandleAdminToken(ctx context.Context, _ modelpolicyapi.OperationName, t modelpolicyapi.AdminToken) (context.Context, error) {
	return sec.s.auth.Admin(ctx, t.Token)
}

func (s *Service) apiKeyPrincipal(ctx context.Context, secret string) (context.Context, error) {
	k, err := s.keys.Lookup(ctx, secret)
	if errors.Is(err, apikey.ErrNotFound) {
		return ctx, invalidKey()
	}
	if err != nil {
		return ctx, fmt.Errorf("authenticate api key: %w", err)
	}
	ok, err := s.tenants.Exists(ctx, k.TenantID)
	if err != nil {
		return ctx, fmt.Errorf("authenticate api key: %w", err)
	}
	if !ok {
		return ctx, invalidKey() // the key's tenant was deleted
	}
	return tenancy.WithPrincipal(ctx, tenancy.Principal{TenantID: k.TenantID, PrincipalID: k.PrincipalID, AuthMode: AuthAPIKey}), nil
}

func noteTenant(ctx context.Context) {
	if p, ok := tenancy.FromContext(ctx); ok {
		httpserver.SetTenant(ctx, p.TenantID)
	}
}
