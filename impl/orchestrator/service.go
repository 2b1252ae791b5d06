// Package orchestrator implements the Agent Orchestrator service on its generated ogen
// server: the agents registry, runs and their lifecycle, the event log and its SSE
// stream, idempotency, quotas, the worker lease protocol, and tenant administration.
package orchestrator

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/impl/orchestrator/stream"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/health"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/runtoken"
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
	// DatabaseURL, when PostgreSQL, is used to LISTEN for other processes' writes.
	DatabaseURL    string
	WorkerToken    string
	LeaseTTL       time.Duration
	MaxAttempts    int32
	IdempotencyTTL time.Duration
	SSEKeepalive   time.Duration
	SweepInterval  time.Duration
	// EmbeddingModel is the Model Policy model that embeds memory (builtin-embedding).
	EmbeddingModel string
	// Default quotas; a tenant's overrides win.
	RunCreateQPS   int64
	ConcurrentRuns int64
	// RunTokens signs the run token each lease and heartbeat carries (nil: none).
	RunTokens *runtoken.Signer
}

func (c *Config) withDefaults() {
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.SSEKeepalive <= 0 {
		c.SSEKeepalive = 15 * time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Second
	}
	if c.EmbeddingModel == "" {
		c.EmbeddingModel = "builtin-embedding"
	}
}

// Service implements orchestratorapi.Handler.
type Service struct {
	cfg      Config
	db       *db.DB
	audit    *audit.Logger
	auth     *tenancy.Authenticator
	tenants  *tenant.Cache
	hub      *stream.Hub
	pg       *stream.Notifier // nil unless PostgreSQL
	quotas   *quotaCache
	versions versionCache
	group    groupCommit         // run creations on PostgreSQL
	ends     grouper[*endJob]    // runs ended by their workers
	leases   grouper[*leaseJob]  // claims of lease requests
	appends  grouper[*appendJob] // workers' event batches
	releases slotReleases        // quota slots given back
	metrics  *metrics
	// modelPolicy embeds memory items and queries (nil: memory answers 503).
	modelPolicy *modelpolicyapi.Client
	logger      *slog.Logger
	now         func() time.Time

	startOnce sync.Once
}

var (
	_ orchestratorapi.Handler         = (*Service)(nil)
	_ orchestratorapi.SecurityHandler = security{}
)

// New returns the orchestrator service. Call Run to start its background work.
func New(cfg Config, d *db.DB, auditLog *audit.Logger, auth *tenancy.Authenticator, tenants *tenant.Cache, logger *slog.Logger) *Service {
	cfg.withDefaults()
	s := &Service{
		cfg: cfg, db: d, audit: auditLog, auth: auth, tenants: tenants, logger: logger, now: time.Now,
		hub: stream.NewHub(d.DB, logger),
	}
	s.group.s, s.releases.s = s, s
	s.group.g.commit, s.ends.commit, s.leases.commit, s.appends.commit = s.group.commit, s.commitEnds, s.commitLeases, s.commitAppends
	s.quotas = newQuotaCache(d.DB, cfg.RunCreateQPS, cfg.ConcurrentRuns, 2*time.Second)
	if d.Dialect == db.DialectPostgres {
		s.pg = stream.NewNotifier(d.DB, 5*time.Millisecond, s.hub.Origin, logger)
	}
	return s
}

// Handler returns the service's HTTP handler: the generated server behind idempotency
// handling, inside the shared middleware chain, with /metrics beside it.
func (s *Service) Handler(m *httpserver.Metrics, inner func(http.Handler) http.Handler) (http.Handler, error) {
	s.metrics = newMetrics(m.Registry, s)
	srv, err := orchestratorapi.NewServer(s, security{auth: s.auth, workerToken: s.cfg.WorkerToken},
		orchestratorapi.WithErrorHandler(httpserver.ErrorHandler),
		orchestratorapi.WithNotFound(httpserver.NotFound),
		orchestratorapi.WithMethodNotAllowed(httpserver.MethodNotAllowed),
	)
	if err != nil {
		return nil, err
	}
	findRoute := httpserver.Routes(srv.FindRoute)
	return httpserver.Handler(s.idempotent(srv, findRoute), httpserver.Options{
		Service:      ServiceName,
		Logger:       s.logger,
		MaxBodyBytes: s.cfg.MaxBodyBytes,
		Metrics:      m,
		FindRoute:    findRoute,
	}, inner), nil
}

// Run does the background work until ctx ends: sweeping lapsed leases, passed deadlines
// and expired idempotency keys, and (on PostgreSQL) listening for other processes' writes.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if s.pg != nil {
		wg.Go(func() { s.pg.Send(ctx) })
		if s.cfg.DatabaseURL != "" {
			wg.Go(func() { s.hub.Listen(ctx, s.cfg.DatabaseURL, s.logger) })
		}
	}
	wg.Go(func() { s.sweep(ctx) })
	wg.Wait()
}

// published tells this process's subscribers, and the other orchestrators, that run has
// new events (after the transaction that wrote them committed).
func (s *Service) published(runID string) {
	s.hub.Notify(runID)
	if s.pg != nil {
		s.pg.Run(runID)
	}
}

// publishedRun is published for a run whose new events the call that wrote them
// returned (store.Run.Written): the hub takes them as they are, with no read.
func (s *Service) publishedRun(r *store.Run) {
	if len(r.Written) == 0 {
		s.published(r.ID)
		return
	}
	s.hub.PublishRun(r)
	if s.pg != nil {
		s.pg.Run(r.ID)
	}
}

// queued wakes lease long-polls here and in the other orchestrators.
func (s *Service) queued() {
	s.hub.NotifyQueue()
	if s.pg != nil {
		s.pg.Queue()
	}
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

// principal returns the caller of a tenant-scoped operation.
func principal(ctx context.Context) (tenancy.Principal, error) {
	p, ok := tenancy.FromContext(ctx)
	if !ok || p.TenantID == "" {
		return p, errors.New("no tenant on a tenant-scoped operation")
	}
	return p, nil
}

// security adapts the shared Authenticator to the generated SecurityHandler.
type security struct {
	auth        *tenancy.Authenticator
	workerToken string
}

func (s security) HandleTenantHeader(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.TenantHeader) (context.Context, error) {
	ctx, err := s.auth.TenantHeader(ctx, t.APIKey)
	noteTenant(ctx)
	return ctx, err
}

func (s security) HandleBearerAuth(ctx context.Context, op orchestratorapi.OperationName, t orchestratorapi.BearerAuth) (context.Context, error) {
	ctx, err := s.auth.Bearer(ctx, t.Token)
	noteTenant(ctx)
	if err == nil {
		err = tenancy.RunTokenMay(ctx, string(op), runTokenOperations)
	}
	return ctx, err
}

// runTokenOperations are what a run token (a worker acting for its run's tenant) may do
// here: read and write the tenant's memory, and ask who it is.
var runTokenOperations = map[string]bool{
	string(orchestratorapi.GetMemoryOperation): true, string(orchestratorapi.PutMemoryOperation): true,
	string(orchestratorapi.DeleteMemoryOperation): true, string(orchestratorapi.SearchMemoryOperation): true,
	string(orchestratorapi.GetCallerOperation): true,
}

func (s security) HandleAdminToken(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.AdminToken) (context.Context, error) {
	return s.auth.Admin(ctx, t.Token)
}

// HandleWorkerToken checks the worker credential (AGENTOS_WORKER_TOKEN).
func (s security) HandleWorkerToken(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.WorkerToken) (context.Context, error) {
	if s.workerToken == "" || subtle.ConstantTimeCompare([]byte(t.Token), []byte(s.workerToken)) != 1 {
		return ctx, apierr.New(apierr.CodeUnauthenticated, "invalid worker credential")
	}
	return tenancy.WithPrincipal(ctx, tenancy.Principal{PrincipalID: "worker"}), nil
}

func noteTenant(ctx context.Context) {
	if p, ok := tenancy.FromContext(ctx); ok {
		httpserver.SetTenant(ctx, p.TenantID)
	}
}
