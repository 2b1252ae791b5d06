package orchestrator_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-faster/jx"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/nodetest"
	"github.com/nexixai/agentos/internal/platform"
)

// onEachBackend runs fn as subtests on SQLite and, when TEST_DATABASE_URL is set, on
// PostgreSQL, with a node configuration for each (testConfig).
func onEachBackend(t *testing.T, fn func(t *testing.T, cfg config.Config)) {
	backends := map[string]string{"sqlite": ""}
	if os.Getenv(dbtest.EnvDatabaseURL) != "" {
		backends["postgres"] = dbtest.URL(t)
	}
	for name, url := range backends {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.DatabaseURL = url
			fn(t, cfg)
		})
	}
}

// streamedRun is a node serving cfg (with a worker token) and a queued run of a builtin
// agent in its default tenant.
type streamedRun struct {
	base   string
	worker *orchestratorapi.Client
	runID  orchestratorapi.RunId
}

func newStreamedRun(t *testing.T, cfg config.Config) streamedRun {
	cfg.WorkerToken = "streams-worker-token-0123456789"
	node, ctx := nodetest.Serve(t, cfg)
	r := streamedRun{base: node.URL(platform.Orchestrator)}
	tc, err := orchestratorapi.NewClient(r.base, tokens{tenant: cfg.DefaultTenant})
	require.NoError(t, err)
	r.worker, err = orchestratorapi.NewClient(r.base, tokens{worker: cfg.WorkerToken})
	require.NoError(t, err)
	_, err = tc.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat"}, orchestratorapi.PutAgentParams{AgentID: "streamed"})
	require.NoError(t, err)
	run, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: "x"}, orchestratorapi.CreateRunParams{AgentID: "streamed"})
	require.NoError(t, err)
	r.runID = run.Response.RunID
	return r
}

// An SSE stream holds its subscription while the client reads and gives it back when
// the client leaves mid-stream or when the run's terminal event has been sent: the
// agentos_sse_subscribers gauge returns to zero, and the streams that stayed receive the
// terminal event and then the end of the body.
func TestEventStreamsGiveBackTheirSubscriptions(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := newStreamedRun(t, cfg)
	ctx, base, wc, runID := context.Background(), r.base, r.worker, string(r.runID)

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

// What a live stream delivers (events handed over by the process that wrote them) is
// byte for byte what a stream opened after the run ended replays from storage, on both
// databases: seqs, types, times and data, including data with characters JSON escapes.
func TestLiveStreamMatchesReplay(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, cfg config.Config) {
		r := newStreamedRun(t, cfg)
		ctx, base, wc, runID := context.Background(), r.base, r.worker, string(r.runID)

		stream := func() io.ReadCloser {
			req, err := http.NewRequest(http.MethodGet, base+"/v1/runs/"+runID+"/events", nil)
			require.NoError(t, err)
			req.Header.Set("X-Tenant-Id", cfg.DefaultTenant)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			return resp.Body
		}
		liveBody := stream()
		live := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(liveBody)
			live <- string(b)
		}()

		lease, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: `w<1>&"x"`, WaitSeconds: orchestratorapi.NewOptInt32(5)})
		require.NoError(t, err)
		require.Len(t, lease.Runs, 1)
		l := lease.Runs[0].Lease
		ev := func(typ orchestratorapi.WorkerEventType, k, v string) orchestratorapi.WorkerEvent {
			return orchestratorapi.WorkerEvent{Type: typ, Data: orchestratorapi.NewOptWorkerEventData(orchestratorapi.WorkerEventData{k: jx.Raw(v)})}
		}
		for _, batch := range [][]orchestratorapi.WorkerEvent{
			{ev(orchestratorapi.WorkerEventTypeModelDelta, "text", `"a<b & \"c\" é"`), ev(orchestratorapi.WorkerEventTypeModelDelta, "text", `"\n"`)},
			{ev(orchestratorapi.WorkerEventTypeToolCall, "name", `"calculator"`)},
		} {
			_, err = wc.AppendRunEvents(ctx, &orchestratorapi.AppendEventsInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken, Events: batch},
				orchestratorapi.AppendRunEventsParams{RunID: r.runID})
			require.NoError(t, err)
		}
		_, err = wc.CompleteRun(ctx, &orchestratorapi.CompleteInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken, Output: "done",
			Events: []orchestratorapi.WorkerEvent{ev(orchestratorapi.WorkerEventTypeModelMessage, "content", `"done"`)}},
			orchestratorapi.CompleteRunParams{RunID: r.runID})
		require.NoError(t, err)

		var got string
		select {
		case got = <-live:
		case <-time.After(10 * time.Second):
			t.Fatal("the live stream did not end")
		}
		liveBody.Close()
		replayBody := stream()
		replayed, err := io.ReadAll(replayBody)
		replayBody.Close()
		require.NoError(t, err)
		require.Equal(t, string(replayed), got)
		require.Equal(t, 7, strings.Count(got, "\nevent: "), "queued, started, two deltas, the tool call, the message, completed")
	})
}

// rawRequest sends a tenant's request (with an Idempotency-Key when key is set) and
// returns the answer's status, headers and body, as bytes: for comparing answers.
func rawRequest(t *testing.T, method, url, tenant, key, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Tenant-Id", tenant)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// A :wait that was waiting when the run ended answers with the run exactly as a read of
// it afterwards does (the answer is handed over by the commit that ended the run, not
// read back), for a completion and a failure with usage, on both databases.
func TestWaitAnswersAsAReadDoes(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, cfg config.Config) {
		r := newStreamedRun(t, cfg)
		ctx, wc := context.Background(), r.worker
		tc, err := orchestratorapi.NewClient(r.base, tokens{tenant: cfg.DefaultTenant})
		require.NoError(t, err)
		get := func(path string) string {
			status, _, body := rawRequest(t, http.MethodGet, r.base+"/v1/runs/"+path, cfg.DefaultTenant, "", "")
			require.Equal(t, http.StatusOK, status, body)
			return body
		}
		first, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: "w0", WaitSeconds: orchestratorapi.NewOptInt32(5)})
		require.NoError(t, err)
		require.Len(t, first.Runs, 1, "newStreamedRun's run is out of the queue")
		usage := orchestratorapi.NewOptUsage(orchestratorapi.Usage{PromptTokens: 17, CompletionTokens: 5})
		for _, end := range []string{"complete", "fail"} {
			run, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: "wait for me",
				Metadata:       orchestratorapi.NewOptStringMap(orchestratorapi.StringMap{"k": "v é"}),
				TimeoutSeconds: orchestratorapi.NewOptInt32(600)},
				orchestratorapi.CreateRunParams{AgentID: "streamed"})
			require.NoError(t, err)
			id := string(run.Response.RunID)
			waited := make(chan string, 1)
			go func() { waited <- get(id + ":wait?timeout=30s") }()

			lease, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: "w1", WaitSeconds: orchestratorapi.NewOptInt32(5)})
			require.NoError(t, err)
			require.NotEmpty(t, lease.Runs)
			var l orchestratorapi.Lease
			for _, lr := range lease.Runs {
				if string(lr.Run.RunID) == id {
					l = lr.Lease
				}
			}
			require.NotEmpty(t, l.LeaseID)
			time.Sleep(50 * time.Millisecond) // the :wait is watching by now, as a rule
			delta := []orchestratorapi.WorkerEvent{{Type: orchestratorapi.WorkerEventTypeModelDelta,
				Data: orchestratorapi.NewOptWorkerEventData(orchestratorapi.WorkerEventData{"text": jx.Raw(`"x"`)})}}
			if end == "complete" {
				_, err = wc.CompleteRun(ctx, &orchestratorapi.CompleteInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken,
					Output: "the answer", Usage: usage, Events: delta}, orchestratorapi.CompleteRunParams{RunID: run.Response.RunID})
			} else {
				_, err = wc.FailRun(ctx, &orchestratorapi.FailInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken,
					Error: orchestratorapi.RunError{Code: "tool_error", Message: "it broke"}, Usage: usage, Events: delta},
					orchestratorapi.FailRunParams{RunID: run.Response.RunID})
			}
			require.NoError(t, err)
			var got string
			select {
			case got = <-waited:
			case <-time.After(10 * time.Second):
				t.Fatal("the :wait did not answer")
			}
			require.Equal(t, get(id), got, end)
			require.Contains(t, got, `"prompt_tokens":17`)
		}
	})
}

// A creation with ?wait answers when the run has ended, with the run as a read gives
// it, or as created when the wait passes first; an Idempotency-Key replays that answer.
// An invalid wait is a 400 naming the parameter, and creates nothing.
func TestCreateWaitsForTheRun(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, cfg config.Config) {
		r := newStreamedRun(t, cfg)
		ctx, wc := context.Background(), r.worker
		tc, err := orchestratorapi.NewClient(r.base, tokens{tenant: cfg.DefaultTenant})
		require.NoError(t, err)
		do := func(method, path, key, body string) (int, http.Header, string) {
			return rawRequest(t, method, r.base+path, cfg.DefaultTenant, key, body)
		}
		count := func() int {
			page, err := tc.ListRuns(ctx, orchestratorapi.ListRunsParams{Limit: orchestratorapi.NewOptInt32(100)})
			require.NoError(t, err)
			return len(page.Items)
		}

		before := count()
		for _, bad := range []string{"abc", "31s", "1m", "-1s", "99999999999999999m", "10h"} {
			status, h, body := do(http.MethodPost, "/v1/agents/streamed/runs?wait="+url.QueryEscape(bad), "", `{"input":"x"}`)
			require.Equal(t, http.StatusBadRequest, status, bad)
			require.Equal(t, "application/problem+json", h.Get("Content-Type"))
			require.Contains(t, body, `wait`, bad)
		}
		require.Equal(t, before, count(), "an invalid wait creates nothing")

		start := time.Now()
		status, _, body := do(http.MethodPost, "/v1/agents/streamed/runs?wait=200ms", "", `{"input":"nobody runs me"}`)
		require.Equal(t, http.StatusCreated, status, body)
		require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
		require.Contains(t, body, `"status":"queued"`)

		// Every queued run so far out of the way, so that the next lease is the new run's.
		for count := 0; count < 2; {
			l, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: "w0", MaxRuns: orchestratorapi.NewOptInt32(2), WaitSeconds: orchestratorapi.NewOptInt32(5)})
			require.NoError(t, err)
			count += len(l.Runs)
		}
		type answer struct {
			status int
			h      http.Header
			body   string
		}
		created := make(chan answer, 1)
		go func() {
			status, h, body := do(http.MethodPost, "/v1/agents/streamed/runs?wait=10s", "wait-key", `{"input":"wait for me"}`)
			created <- answer{status, h, body}
		}()
		lease, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: "w1", WaitSeconds: orchestratorapi.NewOptInt32(5)})
		require.NoError(t, err)
		require.Len(t, lease.Runs, 1)
		l, id := lease.Runs[0].Lease, lease.Runs[0].Run.RunID
		require.Equal(t, "wait for me", lease.Runs[0].Run.Input)
		status, _, busy := do(http.MethodPost, "/v1/agents/streamed/runs?wait=10s", "wait-key", `{"input":"wait for me"}`)
		require.Equal(t, http.StatusConflict, status, "a retry while the first request waits")
		require.Contains(t, busy, "idempotency_key_in_use")
		time.Sleep(50 * time.Millisecond)
		_, err = wc.CompleteRun(ctx, &orchestratorapi.CompleteInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken, Output: "the answer",
			Usage: orchestratorapi.NewOptUsage(orchestratorapi.Usage{PromptTokens: 3, CompletionTokens: 2})}, orchestratorapi.CompleteRunParams{RunID: id})
		require.NoError(t, err)
		var got answer
		select {
		case got = <-created:
		case <-time.After(10 * time.Second):
			t.Fatal("the creation did not answer")
		}
		require.Equal(t, http.StatusCreated, got.status, got.body)
		_, _, read := do(http.MethodGet, "/v1/runs/"+string(id), "", "")
		require.Equal(t, read, got.body, "the ended run, as a read gives it")
		require.Contains(t, got.body, `"status":"completed"`)
		require.Contains(t, got.body, `"output":"the answer"`)

		status, h, replay := do(http.MethodPost, "/v1/agents/streamed/runs?wait=10s", "wait-key", `{"input":"wait for me"}`)
		require.Equal(t, http.StatusCreated, status)
		require.Equal(t, "true", h.Get("Idempotent-Replayed"))
		require.Equal(t, got.body, replay, "the first answer, replayed")
	})
}
