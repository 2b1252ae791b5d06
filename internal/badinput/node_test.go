package badinput_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver that creates test schemas

	"github.com/nexixai/agentos/internal/badinput"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/platform"
)

// The nodes are shared by every test and fuzz target of the package run (one per
// backend, started on first use) and stopped by TestMain.
var (
	nodesMu  sync.Mutex
	nodes    = map[string]*testNode{}
	closers  []func()
	specsMu  sync.Mutex
	specs    = map[string]*badinput.Spec{}
	services = []string{platform.Orchestrator, platform.ModelPolicy, platform.Federation}
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodesMu.Lock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	nodesMu.Unlock()
	os.Exit(code)
}

// testNode is an in-process AgentOS node serving all three services.
type testNode struct {
	backend string
	cfg     config.Config
	node    *platform.Node
	client  *http.Client
}

// backends lists the databases to run on: SQLite always, PostgreSQL when
// TEST_DATABASE_URL is set.
func backends() []string {
	if os.Getenv(dbtest.EnvDatabaseURL) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// nodeFor returns the shared node on a backend, starting it on first use.
func nodeFor(tb testing.TB, backend string) *testNode {
	tb.Helper()
	nodesMu.Lock()
	defer nodesMu.Unlock()
	if n, ok := nodes[backend]; ok {
		return n
	}
	n, err := startNode(backend)
	if err != nil {
		tb.Fatalf("start %s node: %v", backend, err)
	}
	nodes[backend] = n
	return n
}

func startNode(backend string) (*testNode, error) {
	dir, err := os.MkdirTemp("", "agentos-badinput-")
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = os.RemoveAll(dir) })
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.OrchestratorAddr = "127.0.0.1:0"
	cfg.ModelPolicyAddr = "127.0.0.1:0"
	cfg.FederationAddr = "127.0.0.1:0"
	cfg.AuditSink = "none"
	cfg.AdminToken = "adm_" + randomHex(16)
	cfg.WorkerToken = "wkr_" + randomHex(16)
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.LeaseTTL = time.Hour // the fixture's lease outlives any sweep
	// No quotas: cases the document permits may create many runs.
	cfg.QuotaRunCreateQPS = 0
	cfg.QuotaConcurrentRuns = 0
	if backend == "postgres" {
		u, drop, err := createSchema(os.Getenv(dbtest.EnvDatabaseURL))
		if err != nil {
			return nil, fmt.Errorf("create postgres schema: %w", err)
		}
		closers = append(closers, drop)
		cfg.DatabaseURL = u
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("test config: %w", err)
	}
	node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	closers = append(closers, func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "badinput: %s node shutdown: %v\n", backend, err)
		}
	})
	return &testNode{
		backend: backend, cfg: cfg, node: node,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}},
	}, nil
}

// createSchema makes a fresh PostgreSQL schema and returns a URL whose search_path
// selects it, and a function that drops it.
func createSchema(base string) (string, func(), error) {
	schema := "agentos_badinput_" + randomHex(4)
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
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

func testLogger() *slog.Logger {
	if os.Getenv("AGENTOS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// spec loads spec/<service>.yaml once per package run.
func spec(tb testing.TB, service string) *badinput.Spec {
	tb.Helper()
	specsMu.Lock()
	defer specsMu.Unlock()
	if s, ok := specs[service]; ok {
		return s
	}
	s, err := badinput.Load(filepath.Join("..", "..", "spec", service+".yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	specs[service] = s
	return s
}

// credentials satisfies the security schemes in dev auth mode, the tenant-scoped ones
// as tenant.
func (n *testNode) credentials(tenant string) func(string) (http.Header, bool) {
	return func(scheme string) (http.Header, bool) {
		switch scheme {
		case "tenantHeader":
			return http.Header{"X-Tenant-Id": {tenant}}, true
		case "adminToken":
			return http.Header{"Authorization": {"Bearer " + n.node.AdminToken}}, true
		case "workerToken":
			return http.Header{"Authorization": {"Bearer " + n.node.WorkerToken}}, true
		}
		return nil, false // bearerAuth (JWT) is off in dev mode
	}
}

// call sends one JSON request and decodes a 2xx answer into out (when not nil).
func (n *testNode) call(tb testing.TB, service, method, path string, h http.Header, body, out any) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.node.URL(service)+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := n.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		tb.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// fixture names the resources a sweep's path parameters point at.
type fixture struct {
	tenant string // tenant-scoped requests run in it
	agent  string // an agent of tenant
	run    string // a cancelled (terminal) run of agent
	victim string // a tenant and an agent id that DELETE cases may remove
	// A running run of agent, leased: worker operations name it and its lease.
	leasedRun string
	lease     string
	fencing   int
}

// newFixture creates the fixture's tenants, agent and run on n. A tenant of "" uses
// the default tenant (which cannot be deleted).
func (n *testNode) newFixture(tb testing.TB, prefix string) fixture {
	tb.Helper()
	f := fixture{
		tenant: prefix + "-" + randomHex(3),
		agent:  prefix + "-agent",
		victim: prefix + "-victim-" + randomHex(3),
	}
	if prefix == "" {
		f = fixture{tenant: n.cfg.DefaultTenant, agent: "fuzz-agent", victim: "fuzz-victim"}
	}
	admin := http.Header{"Authorization": {"Bearer " + n.node.AdminToken}}
	if f.tenant != n.cfg.DefaultTenant {
		n.call(tb, platform.Orchestrator, http.MethodPut, "/v1/tenants/"+f.tenant, admin, map[string]any{"display_name": "bad input sweep"}, nil)
	}
	n.call(tb, platform.Orchestrator, http.MethodPut, "/v1/tenants/"+f.victim, admin, map[string]any{}, nil)
	tenant := http.Header{"X-Tenant-Id": {f.tenant}}
	for _, id := range []string{f.agent, f.victim} {
		n.call(tb, platform.Orchestrator, http.MethodPut, "/v1/agents/"+id, tenant, map[string]any{"model": "test-model"}, nil)
	}
	var run struct {
		RunID string `json:"run_id"`
	}
	n.call(tb, platform.Orchestrator, http.MethodPost, "/v1/agents/"+f.agent+"/runs", tenant, map[string]any{"input": "hello"}, &run)
	n.call(tb, platform.Orchestrator, http.MethodPost, "/v1/runs/"+run.RunID+":cancel", tenant, nil, nil)
	f.run = run.RunID

	n.call(tb, platform.Orchestrator, http.MethodPost, "/v1/agents/"+f.agent+"/runs", tenant, map[string]any{"input": "hello"}, &run)
	f.leasedRun = run.RunID
	worker := http.Header{"Authorization": {"Bearer " + n.node.WorkerToken}}
	// Leasing takes any queued run of the node; lease until ours is among them.
	for i := 0; i < 100 && f.lease == ""; i++ {
		var leased struct {
			Runs []struct {
				Run struct {
					RunID string `json:"run_id"`
				} `json:"run"`
				Lease struct {
					LeaseID      string `json:"lease_id"`
					FencingToken int    `json:"fencing_token"`
				} `json:"lease"`
			} `json:"runs"`
		}
		n.call(tb, platform.Orchestrator, http.MethodPost, "/v1/workers/lease", worker, map[string]any{"worker_id": "badinput", "max_runs": 64}, &leased)
		for _, r := range leased.Runs {
			if r.Run.RunID == f.leasedRun {
				f.lease, f.fencing = r.Lease.LeaseID, r.Lease.FencingToken
			}
		}
	}
	if f.lease == "" {
		tb.Fatalf("run %s was never leased", f.leasedRun)
	}
	return f
}

// worker reports whether op takes the worker credential.
func worker(op *badinput.Operation) bool {
	for _, alt := range op.Security {
		if slices.Contains(alt, "workerToken") {
			return true
		}
	}
	return false
}

// options are the case-generation options for a fixture: path parameters name its
// resources (DELETE operations its victims, worker operations its leased run), worker
// bodies carry its lease, createRun's baseline carries no idempotency key (so that its
// cases do not replay one another), and putAgent's keeps to the handler's rules.
func (f fixture) options(maxBody int64) badinput.Options {
	return badinput.Options{
		MaxBodyBytes: maxBody,
		PathValue: func(op *badinput.Operation, name string) (string, bool) {
			switch name {
			case "tenant_id":
				return f.victim, true
			case "agent_id":
				if op.Method == http.MethodDelete {
					return f.victim, true
				}
				return f.agent, true
			case "run_id":
				if worker(op) {
					return f.leasedRun, true
				}
				return f.run, true
			case "lease_id":
				return f.lease, true
			}
			return "", false
		},
		Adjust: func(op *badinput.Operation, body any) any {
			m, ok := body.(map[string]any)
			if !ok {
				return body
			}
			switch op.ID {
			case "createRun":
				delete(m, "idempotency_key")
			case "putAgent":
				// A function tool names no MCP server, a rule the schema cannot express.
				if tools, ok := m["tools"].([]any); ok {
					for _, tool := range tools {
						if t, ok := tool.(map[string]any); ok && t["type"] != "mcp" {
							delete(t, "mcp")
						}
					}
				}
			}
			if _, ok := m["lease_id"]; ok {
				m["lease_id"] = f.lease
			}
			if _, ok := m["fencing_token"]; ok && worker(op) {
				m["fencing_token"] = f.fencing
			}
			return body
		},
	}
}
