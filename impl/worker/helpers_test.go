package worker_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/go-faster/jx"
	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/nodetest"
	"github.com/nexixai/agentos/internal/platform"
)

// creds is an orchestrator client's credential: whichever of these is set.
type creds struct{ tenant, bearer, admin, worker string }

func (c creds) TenantHeader(context.Context, orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	if c.tenant == "" {
		return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.TenantHeader{APIKey: c.tenant}, nil
}

func (c creds) BearerAuth(context.Context, orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	if c.bearer == "" {
		return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.BearerAuth{Token: c.bearer}, nil
}

func (c creds) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	if c.admin == "" {
		return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.AdminToken{Token: c.admin}, nil
}

func (c creds) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	if c.worker == "" {
		return orchestratorapi.WorkerToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.WorkerToken{Token: c.worker}, nil
}

// testNode is a whole platform on loopback, on SQLite (dsn "") or PostgreSQL.
type testNode struct {
	node   *platform.Node
	cfg    config.Config
	tenant *orchestratorapi.Client // the default tenant, by X-Tenant-Id
}

func newTestNode(t *testing.T, dsn string, mutate func(*config.Config)) *testNode {
	t.Helper()
	cfg := testConfig(t)
	cfg.DatabaseURL = dsn
	if mutate != nil {
		mutate(&cfg)
	}
	node, _ := nodetest.Serve(t, cfg)
	c, err := orchestratorapi.NewClient(node.URL(platform.Orchestrator), creds{tenant: cfg.DefaultTenant})
	require.NoError(t, err)
	return &testNode{node: node, cfg: cfg, tenant: c}
}

// testConfig is a node's configuration for tests: a fresh data directory, free ports,
// no audit sink, one embedded worker.
func testConfig(t *testing.T) config.Config {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.OrchestratorAddr, cfg.ModelPolicyAddr, cfg.FederationAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AuditSink = "none"
	cfg.Workers = 1
	// No rate limits: tests that run agents one after another would otherwise hit the
	// default 10 creations and 20 model calls a second once runs finish fast enough.
	cfg.QuotaRunCreateQPS, cfg.QuotaInvokeQPS = 0, 0
	return cfg
}

// eachBackend runs fn on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL.
func eachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, "") })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, dbtest.URL(t)) })
}

func (n *testNode) events(t *testing.T, runID orchestratorapi.RunId) []orchestratorapi.RunEvent {
	t.Helper()
	page, err := n.tenant.GetRunEvents(context.Background(), orchestratorapi.GetRunEventsParams{RunID: runID,
		Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON), Limit: orchestratorapi.NewOptInt32(1000)})
	require.NoError(t, err)
	return page.(*orchestratorapi.RunEventPage).Events
}

func (n *testNode) wait(t *testing.T, runID orchestratorapi.RunId) *orchestratorapi.Run {
	t.Helper()
	run, err := n.tenant.WaitRun(context.Background(), orchestratorapi.WaitRunParams{RunID: runID, Timeout: orchestratorapi.NewOptString("30s")})
	require.NoError(t, err)
	return run
}

func str(raw jx.Raw) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func rawData(kv map[string]any) orchestratorapi.OptWorkerEventData {
	d := orchestratorapi.WorkerEventData{}
	for k, v := range kv {
		b, _ := json.Marshal(v)
		d[k] = jx.Raw(b)
	}
	return orchestratorapi.NewOptWorkerEventData(d)
}
