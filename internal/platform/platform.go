// Package platform assembles an AgentOS node from its configuration: the database, the
// default tenant, the admin credential, audit, authentication and the three services,
// each on its own listener. `agentos serve` and the in-process conformance deployment
// both start nodes through it.
package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/federation"
	"github.com/nexixai/agentos/impl/modelpolicy"
	"github.com/nexixai/agentos/impl/orchestrator"
	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/impl/worker"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/buildinfo"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/runtoken"
	"github.com/nexixai/agentos/internal/tenancy"
	"github.com/nexixai/agentos/internal/tenant"
)

// EmbeddedWorkerConcurrency is how many runs each embedded worker executes at once.
const EmbeddedWorkerConcurrency = 4

// Service names, as `agentos serve NAME` takes them.
const (
	Orchestrator = orchestrator.ServiceName
	ModelPolicy  = modelpolicy.ServiceName
	Federation   = federation.ServiceName
)

// AllServices lists every service in start order.
var AllServices = []string{Orchestrator, ModelPolicy, Federation}

// Options tune a node beyond its configuration.
type Options struct {
	// Services to serve; empty means all.
	Services []string
	// Inner wraps each service's generated server inside the middleware chain. Tests
	// only (fault injection); nil in production.
	Inner func(service string, h http.Handler) http.Handler
	// LookupEnv resolves environment variables named in configuration files (the API
	// keys of model providers); nil resolves nothing.
	LookupEnv func(string) (string, bool)
}

// Node is a running (or ready to run) AgentOS node.
type Node struct {
	Config      config.Config
	DB          *db.DB
	Audit       *audit.Logger
	Logger      *slog.Logger
	AdminToken  string
	WorkerToken string

	servers    []*httpserver.Server
	background []func(context.Context)
	workers    []*worker.Worker
	closers    []func()
	closeOnce  sync.Once
}

// New opens and migrates the database, seeds the default tenant, resolves the admin
// credential, and binds every requested service. Nothing is served until Serve.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (n *Node, err error) {
	services := opts.Services
	if len(services) == 0 {
		services = AllServices
	}
	for _, s := range services {
		if !slices.Contains(AllServices, s) {
			return nil, fmt.Errorf("unknown service %q (want one of %s)", s, strings.Join(AllServices, ", "))
		}
	}
	d, err := OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n = &Node{Config: cfg, DB: d, Logger: logger}
	node := n // the returns below set n to nil
	defer func() {
		if err != nil {
			node.close()
		}
	}()
	if err := tenant.EnsureDefault(ctx, d.DB, cfg.DefaultTenant, time.Now()); err != nil {
		return nil, fmt.Errorf("seed default tenant: %w", err)
	}
	if cfg.SeedDemoAgent && slices.Contains(services, Orchestrator) {
		if err := seedDemoAgent(ctx, d, cfg.DefaultTenant); err != nil {
			return nil, err
		}
	}
	if n.AdminToken, err = AdminToken(cfg); err != nil {
		return nil, err
	}
	if n.WorkerToken, err = WorkerToken(cfg); err != nil {
		return nil, err
	}
	sink, err := audit.ParseSink(cfg.AuditSink)
	if err != nil {
		return nil, fmt.Errorf("open audit sink: %w", err)
	}
	n.Audit = audit.New(d, sink, logger)
	n.background = append(n.background, func(ctx context.Context) { n.Audit.RunChainer(ctx, 100*time.Millisecond) })

	var verifier *tenancy.Verifier
	if cfg.AuthMode == config.AuthModeJWT {
		verifier, err = tenancy.NewVerifier(ctx, tenancy.VerifierConfig{
			PublicKeyFile: cfg.JWTPublicKeyFile,
			JWKSURL:       cfg.JWTJWKSURL,
			JWKSRefresh:   cfg.JWTJWKSRefresh,
			Algorithms:    cfg.JWTAlgorithms,
			Audience:      cfg.JWTAudience,
			Issuer:        cfg.JWTIssuer,
			Leeway:        cfg.JWTLeeway,
			RolesClaim:    cfg.JWTRolesClaim,
			Logger:        logger,
		})
		if err != nil {
			return nil, fmt.Errorf("set up jwt verification: %w", err)
		}
	}
	runKey, err := RunTokenKey(cfg)
	if err != nil {
		return nil, err
	}
	runTokens, err := runtoken.New(runKey)
	if err != nil {
		return nil, fmt.Errorf("run token key: %w", err)
	}
	tenants := tenant.NewCache(d.DB, 2*time.Second)
	auth, err := tenancy.NewAuthenticator(cfg.AuthMode, n.AdminToken, cfg.JWTAdminRole, verifier, tenants, tenancy.WithRunTokens(runTokens))
	if err != nil {
		return nil, err
	}

	if cfg.PprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv, err := httpserver.Listen("pprof", cfg.PprofAddr, mux, logger)
		if err != nil {
			return nil, err
		}
		n.servers = append(n.servers, srv)
	}

	var orchSvc *orchestrator.Service
	version := buildinfo.Version()
	for _, name := range services {
		var inner func(http.Handler) http.Handler
		if opts.Inner != nil {
			inner = func(h http.Handler) http.Handler { return opts.Inner(name, h) }
		}
		slogger := logger.With("service", name)
		var (
			h    http.Handler
			addr string
		)
		m := httpserver.NewMetrics(name)
		switch name {
		case Orchestrator:
			svc := orchestrator.New(orchestrator.Config{
				Version: version, DefaultTenant: cfg.DefaultTenant, MaxBodyBytes: cfg.MaxBodyBytes,
				DatabaseURL: cfg.DatabaseURL, WorkerToken: n.WorkerToken, LeaseTTL: cfg.LeaseTTL,
				MaxAttempts: int32(cfg.RunMaxAttempts), IdempotencyTTL: cfg.IdempotencyTTL,
				SSEKeepalive: cfg.SSEKeepalive, SweepInterval: cfg.SweepInterval,
				RunCreateQPS: int64(cfg.QuotaRunCreateQPS), ConcurrentRuns: int64(cfg.QuotaConcurrentRuns),
				RunTokens: runTokens,
			}, d, n.Audit, auth, tenants, slogger)
			h, err = svc.Handler(m, inner)
			n.background = append(n.background, svc.Run)
			orchSvc = svc
			addr = cfg.OrchestratorAddr
		case ModelPolicy:
			var mp *modelpolicy.Service
			mp, err = modelpolicy.New(ctx, modelpolicy.Config{
				Version: version, MaxBodyBytes: cfg.MaxBodyBytes, Metrics: m,
				ProvidersFile: cfg.ModelProvidersFile, PolicyDir: cfg.PolicyDir, LookupEnv: opts.LookupEnv,
				QuotaInvokeQPS: int64(cfg.QuotaInvokeQPS), QuotaTokensPerMinute: cfg.QuotaTokensPerMinute,
			}, d, n.Audit, auth, tenants, slogger)
			if err == nil {
				n.closers = append(n.closers, mp.Close)
				h, err = mp.Handler(m, inner)
			}
			addr = cfg.ModelPolicyAddr
		case Federation:
			h, err = federation.New(federation.Config{Version: version, MaxBodyBytes: cfg.MaxBodyBytes}, d, slogger).Handler(m, inner)
			addr = cfg.FederationAddr
		}
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", name, err)
		}
		srv, err := httpserver.Listen(name, addr, h, slogger)
		if err != nil {
			return nil, err
		}
		n.servers = append(n.servers, srv)
	}
	if orchSvc != nil {
		mpURL := cfg.ModelPolicyURL
		if u := n.URL(ModelPolicy); u != "" {
			mpURL = u // this node's own Model Policy
		}
		if mpURL != "" {
			if err := orchSvc.UseModelPolicy(mpURL); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Workers > 0 {
		orch, mp := n.URL(Orchestrator), n.URL(ModelPolicy)
		if orch == "" || mp == "" {
			return nil, errors.New("embedded workers (workers > 0) need this node to serve the orchestrator and Model Policy; run `agentos worker` beside split services instead")
		}
		for i := range cfg.Workers {
			wk, err := worker.New(worker.Config{
				ID: fmt.Sprintf("embedded-%d", i+1), OrchestratorURL: orch, ModelPolicyURL: mp,
				WorkerToken: n.WorkerToken, Concurrency: EmbeddedWorkerConcurrency, Logger: logger.With("service", "worker"),
			})
			if err != nil {
				return nil, err
			}
			n.workers = append(n.workers, wk)
		}
	}
	return n, nil
}

// DemoAgentID is the example agent seeded in the default tenant.
const DemoAgentID = "demo"

// seedDemoAgent creates the example agent once: a tenant that deleted it does not get it
// back on the next start.
func seedDemoAgent(ctx context.Context, d *db.DB, tenantID string) error {
	return d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		seen, err := store.EverExisted(ctx, tx, tenantID, DemoAgentID)
		if err != nil || seen {
			return err
		}
		_, _, err = store.PutAgent(ctx, tx, tenantID, DemoAgentID, store.AgentSpec{
			Model:        "builtin-chat",
			Instructions: "You are the AgentOS demo agent. Use the calculator for arithmetic and memory to remember.",
			Description:  "Example agent seeded on first start: the offline builtin model, the calculator and memory tools. Try the input: /tool calculator {\"expression\": \"6 * 7\"}",
			Tools: []store.Tool{{Name: "calculator", Type: "builtin"}, {Name: "memory_put", Type: "builtin"},
				{Name: "memory_get", Type: "builtin"}, {Name: "memory_search", Type: "builtin"}},
			Labels: map[string]string{"example": "true"},
		}, time.Now())
		if err != nil {
			return fmt.Errorf("seed demo agent: %w", err)
		}
		return nil
	})
}

// OpenDB opens and migrates the configured database.
func OpenDB(ctx context.Context, cfg config.Config) (*db.DB, error) {
	d, err := db.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := d.Migrate(ctx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return d, nil
}

// URL returns the base URL of a served service ("" when it is not served).
func (n *Node) URL(service string) string {
	for _, s := range n.servers {
		if s.Name == service {
			return s.URL()
		}
	}
	return ""
}

// Serve serves every service until ctx is cancelled, then drains in-flight requests for
// up to the configured shutdown timeout and closes the node.
func (n *Node) Serve(ctx context.Context) error {
	errc := make(chan error, len(n.servers))
	for _, s := range n.servers {
		go func() { errc <- s.Serve() }()
	}
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	for _, run := range n.background {
		bg.Go(func() { run(bgCtx) })
	}
	workCtx, stopWorkers := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for _, wk := range n.workers {
		workers.Go(func() { _ = wk.Run(workCtx) })
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	n.Logger.Info("shutting down", "drain_timeout", n.Config.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), n.Config.ShutdownTimeout)
	defer cancel()
	// Embedded workers first: they stop leasing and finish (or hand back) their runs
	// while the services still answer them.
	stopWorkers()
	workersDone := make(chan struct{})
	go func() { workers.Wait(); close(workersDone) }()
	select {
	case <-workersDone:
	case <-sctx.Done():
	}
	var wg sync.WaitGroup
	shutdownErrs := make([]error, len(n.servers))
	for i, s := range n.servers {
		wg.Go(func() { shutdownErrs[i] = s.Shutdown(sctx) })
	}
	wg.Wait()
	stopBackground()
	bg.Wait()
	n.close()
	return errors.Join(append([]error{serveErr}, shutdownErrs...)...)
}

func (n *Node) close() {
	n.closeOnce.Do(func() {
		for i := len(n.closers) - 1; i >= 0; i-- {
			n.closers[i]() // services flush what they queued before audit and the database close
		}
		if n.Audit != nil {
			n.Audit.Close()
		}
		if n.DB != nil {
			_ = n.DB.Close()
		}
	})
}

// AdminToken returns the configured admin token, or the one stored in
// <data_dir>/admin-token, generating it (mode 0600) on first use.
func AdminToken(cfg config.Config) (string, error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, nil
	}
	return storedToken(AdminTokenPath(cfg), "adm_", 16)
}

// WorkerToken returns the configured worker token, or the one stored in
// <data_dir>/worker-token, generating it (mode 0600) on first use.
func WorkerToken(cfg config.Config) (string, error) {
	if cfg.WorkerToken != "" {
		return cfg.WorkerToken, nil
	}
	return storedToken(WorkerTokenPath(cfg), "wkr_", 16)
}

// RunTokenKey returns the configured run token key, or the one stored in
// <data_dir>/run-token-key, generating it (mode 0600) on first use. The orchestrator signs
// run tokens with it and every service verifies them; workers never need it.
func RunTokenKey(cfg config.Config) (string, error) {
	if cfg.RunTokenKey != "" {
		return cfg.RunTokenKey, nil
	}
	return storedToken(RunTokenKeyPath(cfg), "rtk_", runtoken.MinKeyLen)
}

// RunTokenKeyPath is where a generated run token key is kept.
func RunTokenKeyPath(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, "run-token-key")
}

// WorkerTokenPath is where a generated worker token is kept.
func WorkerTokenPath(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, "worker-token")
}

// storedToken reads the secret kept at path (at least minLen characters), or generates
// prefix and 48 hex digits (192 bits) of randomness into it.
func storedToken(path, prefix string, minLen int) (string, error) {
	if data, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(data)); len(tok) >= minLen {
			return tok, nil
		}
		return "", fmt.Errorf("token file %s holds no token of at least %d characters", path, minLen)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read token: %w", err)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	tok := prefix + hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return storedToken(path, prefix, minLen) // another process wrote it first
	}
	if err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(tok + "\n"); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return tok, nil
}

// AdminTokenPath is where a generated admin token is kept.
func AdminTokenPath(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, "admin-token")
}
