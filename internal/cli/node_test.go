package cli

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// testBundle is an in-process node (orchestrator only, SQLite in a temp dir) and clients.
type testBundle struct {
	node   *platform.Node
	url    string
	tenant string
	// api calls the orchestrator as the tenant; worker as a worker.
	api    *orchestratorapi.Client
	worker *orchestratorapi.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.OrchestratorAddr = "127.0.0.1:0"
	cfg.ModelPolicyAddr = "127.0.0.1:0"
	cfg.FederationAddr = "127.0.0.1:0"
	cfg.AuditSink = "file:" + filepath.Join(dir, "audit.log")
	cfg.ShutdownTimeout = 5 * time.Second
	require.NoError(t, cfg.Validate())
	node, err := platform.New(t.Context(), cfg, slog.New(slog.DiscardHandler), platform.Options{Services: []string{platform.Orchestrator}})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	b := &testBundle{node: node, url: node.URL(platform.Orchestrator), tenant: cfg.DefaultTenant}
	b.api, err = orchestratorapi.NewClient(b.url, testCredentials{tenant: b.tenant})
	require.NoError(t, err)
	b.worker, err = orchestratorapi.NewClient(b.url, testCredentials{workerToken: node.WorkerToken})
	require.NoError(t, err)
	return b
}

// cli runs the agentos command line against the node and returns its output (stdout and
// stderr together) and exit code.
func (b *testBundle) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return b.cliAt(t, b.url, args...)
}

// cliAt runs the command line against the orchestrator at url.
func (b *testBundle) cliAt(t *testing.T, url string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out syncBuffer
	code := Execute(ctx, append(args, "--orchestrator-url", url, "--tenant", b.tenant), &out, &out, nil)
	return out.String(), code
}

// createAgent stores an agent with the given model through the API.
func (b *testBundle) createAgent(t *testing.T, id string) {
	t.Helper()
	_, err := b.api.PutAgent(t.Context(), &orchestratorapi.AgentInput{Model: "test-model"}, orchestratorapi.PutAgentParams{AgentID: orchestratorapi.AgentId(id)})
	require.NoError(t, err)
}

// leaseAny leases the next queued run as worker w1, waiting for one to be queued.
func (b *testBundle) leaseAny(t *testing.T) (orchestratorapi.Lease, orchestratorapi.RunId) {
	t.Helper()
	res, err := b.worker.LeaseRuns(t.Context(), &orchestratorapi.LeaseInput{WorkerID: "w1", WaitSeconds: orchestratorapi.NewOptInt32(10)})
	require.NoError(t, err)
	require.Len(t, res.Runs, 1)
	return res.Runs[0].Lease, res.Runs[0].Run.RunID
}

// appendDeltas appends n model.delta events, one request each.
func (b *testBundle) appendDeltas(t *testing.T, runID orchestratorapi.RunId, l orchestratorapi.Lease, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		_, err := b.worker.AppendRunEvents(t.Context(), &orchestratorapi.AppendEventsInput{
			LeaseID:      l.LeaseID,
			FencingToken: l.FencingToken,
			Events: []orchestratorapi.WorkerEvent{{
				Type: orchestratorapi.WorkerEventTypeModelDelta,
				Data: orchestratorapi.NewOptWorkerEventData(orchestratorapi.WorkerEventData{"text": []byte(`"tok` + strconv.Itoa(i) + `"`)}),
			}},
		}, orchestratorapi.AppendRunEventsParams{RunID: runID})
		require.NoError(t, err)
	}
}

// testCredentials is a generated-client security source for the tests.
type testCredentials struct{ tenant, workerToken string }

func (c testCredentials) TenantHeader(context.Context, orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	if c.tenant == "" {
		return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.TenantHeader{APIKey: c.tenant}, nil
}

func (testCredentials) BearerAuth(context.Context, orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
}

func (testCredentials) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
}

func (c testCredentials) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	if c.workerToken == "" {
		return orchestratorapi.WorkerToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.WorkerToken{Token: c.workerToken}, nil
}

// syncBuffer is a bytes.Buffer safe to read while the command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
