// Package features runs the Gherkin conformance suite with godog inside go test.
//
// By default it starts an in-process AgentOS node (SQLite, or PostgreSQL when
// TEST_DATABASE_URL is set). Given AGENTOS_ORCHESTRATOR_URL, AGENTOS_MODELPOLICY_URL and
// AGENTOS_FEDERATION_URL (and AGENTOS_ADMIN_TOKEN) it targets that deployment instead and
// skips the scenarios tagged @inprocess.
package features

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cucumber/godog"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// environment is the deployment under test, shared by every scenario of a run.
type environment struct {
	inProcess     bool
	urls          map[string]string
	adminToken    string
	workerToken   string
	defaultTenant string
	// suffix makes tenant names unique per run, so the suite can target a shared deployment.
	suffix string

	// In-process only.
	cfg       config.Config
	node      *platform.Node
	panicNext atomic.Bool
	pgBaseURL string // TEST_DATABASE_URL when set
	tmp       string

	jwtOnce sync.Once
	jwt     *jwtNode
	jwtErr  error

	secondOnce sync.Once
	secondURLs map[string]string
	secondErr  error

	// workerNode is the node with an embedded worker (mcp_steps_test.go).
	workerNodeOnce sync.Once
	workerNodeVal  *workerNode
	workerNodeErr  error

	exitMu sync.Mutex
	exits  []func()
}

// atExit registers cleanup for resources started lazily by scenarios; TestFeatures runs
// them, newest first, when the suite ends.
func (e *environment) atExit(f func()) {
	e.exitMu.Lock()
	defer e.exitMu.Unlock()
	e.exits = append(e.exits, f)
}

func (e *environment) runExits() {
	e.exitMu.Lock()
	defer e.exitMu.Unlock()
	for i := len(e.exits) - 1; i >= 0; i-- {
		e.exits[i]()
	}
	e.exits = nil
}

// TestFeatures runs the suite against the deployment named by the environment, or
// in-process on SQLite and, when TEST_DATABASE_URL is set, again on PostgreSQL.
func TestFeatures(t *testing.T) {
	if os.Getenv("AGENTOS_ORCHESTRATOR_URL") != "" {
		runSuite(t, newEnvironment(t, ""))
		return
	}
	t.Run("sqlite", func(t *testing.T) { runSuite(t, newEnvironment(t, "")) })
	if pg := os.Getenv("TEST_DATABASE_URL"); pg != "" {
		t.Run("postgres", func(t *testing.T) { runSuite(t, newEnvironment(t, pg)) })
	} else {
		t.Log("TEST_DATABASE_URL is unset: the suite ran on SQLite only")
	}
}

func runSuite(t *testing.T, env *environment) {
	t.Cleanup(env.runExits)
	tags := os.Getenv("GODOG_TAGS")
	if !env.inProcess {
		tags = joinTags(tags, "~@inprocess")
	}
	if env.pgBaseURL == "" {
		tags = joinTags(tags, "~@postgres")
	}
	format := os.Getenv("GODOG_FORMAT")
	if format == "" {
		format = "progress"
	}
	opts := godog.Options{
		Format:   format,
		Paths:    []string{"."},
		Strict:   true,
		TestingT: t,
		Tags:     tags,
		Output:   os.Stdout,
		NoColors: true,
	}
	status := godog.TestSuite{
		Name: "agentos",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			newWorld(env).register(sc)
		},
		Options: &opts,
	}.Run()
	if status != 0 {
		t.Fatalf("conformance suite failed (status %d)", status)
	}
}

func joinTags(a, b string) string {
	if a == "" {
		return b
	}
	return a + " && " + b
}

func newEnvironment(t *testing.T, pgURL string) *environment {
	t.Helper()
	env := &environment{suffix: randomHex(3)}
	orch := os.Getenv("AGENTOS_ORCHESTRATOR_URL")
	if orch != "" {
		env.urls = map[string]string{
			"orchestrator": orch,
			"modelpolicy":  envOr("AGENTOS_MODELPOLICY_URL", "http://127.0.0.1:50082"),
			"federation":   envOr("AGENTOS_FEDERATION_URL", "http://127.0.0.1:50083"),
		}
		env.adminToken = os.Getenv("AGENTOS_ADMIN_TOKEN")
		env.workerToken = os.Getenv("AGENTOS_WORKER_TOKEN")
		env.defaultTenant = envOr("AGENTOS_DEFAULT_TENANT", "tnt_demo")
		t.Logf("conformance target: %v", env.urls)
		return env
	}
	env.inProcess = true
	env.tmp = t.TempDir()
	env.pgBaseURL = pgURL
	cfg := testConfig(t, env, filepath.Join(env.tmp, "node"))
	env.cfg = cfg
	node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{
		Inner: func(service string, h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if service == platform.Orchestrator && env.panicNext.CompareAndSwap(true, false) {
					panic("injected by the conformance suite")
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	if err != nil {
		t.Fatalf("start in-process node: %v", err)
	}
	env.node = node
	env.adminToken = node.AdminToken
	env.workerToken = node.WorkerToken
	env.defaultTenant = cfg.DefaultTenant
	env.urls = map[string]string{
		"orchestrator": node.URL(platform.Orchestrator),
		"modelpolicy":  node.URL(platform.ModelPolicy),
		"federation":   node.URL(platform.Federation),
	}
	serve(t, node)
	backend := "sqlite"
	if cfg.DatabaseURL != "" {
		backend = "postgres"
	}
	t.Logf("conformance target: in-process node on %s (%v)", backend, env.urls)
	return env
}

// testConfig is a node configuration on free loopback ports with its own database: a
// fresh SQLite file, or a fresh PostgreSQL schema when TEST_DATABASE_URL is set.
func testConfig(t *testing.T, env *environment, dataDir string) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = dataDir
	cfg.OrchestratorAddr = "127.0.0.1:0"
	cfg.ModelPolicyAddr = "127.0.0.1:0"
	cfg.FederationAddr = "127.0.0.1:0"
	cfg.AuditSink = "file:" + filepath.Join(dataDir, "audit", "audit.log")
	cfg.AdminToken = "adm_" + randomHex(16)
	cfg.ShutdownTimeout = 5 * time.Second
	// Short timings so lease lapses, sweeps and keepalives happen within a scenario.
	cfg.LeaseTTL = 2 * time.Second
	cfg.SweepInterval = 100 * time.Millisecond
	cfg.SSEKeepalive = 300 * time.Millisecond
	cfg.RunMaxAttempts = 2
	if env.pgBaseURL != "" {
		cfg.DatabaseURL = freshSchema(t, env.pgBaseURL)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// freshSchema creates a schema for one node, dropped when the test ends, and returns a
// URL whose search_path selects it.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	u, drop, err := createSchema(base)
	if err != nil {
		t.Fatalf("create postgres schema: %v", err)
	}
	t.Cleanup(drop)
	return u
}

func createSchema(base string) (string, func(), error) {
	schema := "agentos_features_" + randomHex(4)
	sqlDB, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	defer sqlDB.Close()
	if _, err := sqlDB.Exec("CREATE SCHEMA " + schema); err != nil {
		return "", nil, err
	}
	drop := func() {
		if c, err := sql.Open("pgx", base); err == nil {
			_, _ = c.Exec("DROP SCHEMA " + schema + " CASCADE")
			_ = c.Close()
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

func serve(t *testing.T, node *platform.Node) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
}

func testLogger() *slog.Logger {
	if os.Getenv("AGENTOS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// tmpDir is a directory for scenario files, also when targeting a remote deployment.
func (e *environment) tmpDir() string {
	if e.tmp == "" {
		e.tmp, _ = os.MkdirTemp("", "agentos-features")
	}
	return e.tmp
}

// tenantID maps a scenario's tenant alias to this run's unique tenant id.
func (e *environment) tenantID(alias string) string {
	switch alias {
	case "tnt_demo", e.defaultTenant:
		return alias
	}
	id := alias + "_" + e.suffix
	if len(id) > 63 {
		id = id[:63]
	}
	return strings.ToLower(id)
}

func (e *environment) url(service string) (string, error) {
	u, ok := e.urls[service]
	if !ok {
		return "", fmt.Errorf("unknown service %q", service)
	}
	return u, nil
}
