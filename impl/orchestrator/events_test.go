package orchestrator_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/platform"
)

// An SSE stream holds its subscription while the client reads and gives it back when
// the client leaves mid-stream or when the run's terminal event has been sent: the
// agentos_sse_subscribers gauge returns to zero, and the streams that stayed receive the
// terminal event and then the end of the body.
func TestEventStreamsGiveBackTheirSubscriptions(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.WorkerToken = "events-worker-token-0123456789"
	node := serveNode(t, cfg)
	ctx := context.Background()
	base := node.URL(platform.Orchestrator)

	tc, err := orchestratorapi.NewClient(base, tokens{tenant: cfg.DefaultTenant})
	require.NoError(t, err)
	wc, err := orchestratorapi.NewClient(base, tokens{worker: cfg.WorkerToken})
	require.NoError(t, err)
	_, err = tc.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat"}, orchestratorapi.PutAgentParams{AgentID: "streamed"})
	require.NoError(t, err)
	run, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: "x"}, orchestratorapi.CreateRunParams{AgentID: "streamed"})
	require.NoError(t, err)
	runID := string(run.Response.RunID)

	subscribers := func() string {
		resp, err := http.Get(base + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		for line := range strings.Lines(string(body)) {
			if v, ok := strings.CutPrefix(line, "agentos_sse_subscribers "); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	type stream struct {
		cancel context.CancelFunc
		lines  *bufio.Scanner
		body   io.Closer
	}
	open := func() stream {
		sctx, cancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(sctx, http.MethodGet, base+"/v1/runs/"+runID+"/events", nil)
		require.NoError(t, err)
		req.Header.Set("X-Tenant-Id", cfg.DefaultTenant)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		s := stream{cancel: cancel, lines: bufio.NewScanner(resp.Body), body: resp.Body}
		for s.lines.Scan() { // the replay, up to run.queued
			if s.lines.Text() == "event: run.queued" {
				return s
			}
		}
		t.Fatalf("no run.queued event: %v", s.lines.Err())
		return s
	}
	var streams []stream
	for range 6 {
		streams = append(streams, open())
	}
	require.Equal(t, "6", subscribers())

	for _, s := range streams[:3] { // three clients leave mid-stream
		s.cancel()
		s.body.Close()
	}
	require.Eventually(t, func() bool { return subscribers() == "3" }, 5*time.Second, 20*time.Millisecond)

	lease, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: "w", WaitSeconds: orchestratorapi.NewOptInt32(5)})
	require.NoError(t, err)
	require.Len(t, lease.Runs, 1)
	_, err = wc.CompleteRun(ctx, &orchestratorapi.CompleteInput{LeaseID: lease.Runs[0].Lease.LeaseID, FencingToken: lease.Runs[0].Lease.FencingToken, Output: "ok"},
		orchestratorapi.CompleteRunParams{RunID: lease.Runs[0].Run.RunID})
	require.NoError(t, err)
	for _, s := range streams[3:] {
		var events []string
		for s.lines.Scan() {
			if ev, ok := strings.CutPrefix(s.lines.Text(), "event: "); ok {
				events = append(events, ev)
			}
		}
		require.NoError(t, s.lines.Err(), "the stream ends cleanly after the terminal event")
		require.Equal(t, []string{"run.started", "run.completed"}, events)
		s.body.Close()
	}
	require.Eventually(t, func() bool { return subscribers() == "0" }, 5*time.Second, 20*time.Millisecond)
}
