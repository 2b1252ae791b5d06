package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
	"github.com/nexixai/agentos/impl/worker"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// The end-to-end run: streamed deltas, two tool calls in parallel (one of them
// memory), and completion, with the events in order, on both databases.
func TestAgentLoopEndToEnd(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		n := newTestNode(t, dsn, nil)
		ctx := context.Background()
		builtin := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)
		_, err := n.tenant.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: []orchestratorapi.Tool{
			{Name: "calculator", Type: builtin}, {Name: "memory_put", Type: builtin},
		}}, orchestratorapi.PutAgentParams{AgentID: "e2e"})
		require.NoError(t, err)
		res, err := n.tenant.CreateRun(ctx, &orchestratorapi.RunInput{
			Input: "/tool memory_put {\"key\": \"answer\", \"value\": \"six times seven\"}\n/tool calculator {\"expression\": \"6 * 7\"}",
		}, orchestratorapi.CreateRunParams{AgentID: "e2e"})
		require.NoError(t, err)
		run := n.wait(t, res.Response.RunID)
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.Equal(t, "The tools returned: stored answer; 42", run.Output.Or(""))
		require.Positive(t, run.Usage.PromptTokens)
		require.Positive(t, run.Usage.CompletionTokens)

		var types []string
		var deltas strings.Builder
		results := map[string]string{}
		for _, e := range n.events(t, run.RunID) {
			switch e.Type {
			case "model.delta":
				deltas.WriteString(str(e.Data["text"]))
				if types[len(types)-1] != "model.delta" {
					types = append(types, e.Type)
				}
				continue
			case "tool.result":
				results[str(e.Data["name"])] = str(e.Data["content"])
			}
			types = append(types, e.Type)
		}
		require.Equal(t, []string{"run.queued", "run.started", "model.message", "tool.call", "tool.call",
			"tool.result", "tool.result", "model.delta", "model.message", "run.completed"}, types)
		require.Equal(t, run.Output.Or(""), deltas.String(), "the streamed deltas add up to the answer")
		require.Equal(t, map[string]string{"memory_put": "stored answer", "calculator": "42"}, results)
		item, err := n.tenant.GetMemory(ctx, orchestratorapi.GetMemoryParams{Namespace: "e2e", Key: "answer"})
		require.NoError(t, err)
		require.Equal(t, "six times seven", item.Value)
	})
}

// A worker that takes over a run whose first attempt died after recording one of two
// tool results reuses that result instead of calling the tool again, runs only the
// call without a result, and does not repeat the recorded model call.
func TestResumeDoesNotRepeatRecordedToolCalls(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		n := newTestNode(t, dsn, func(c *config.Config) {
			c.Workers = 0
			c.LeaseTTL = time.Second
			c.SweepInterval = 50 * time.Millisecond
		})
		ctx := context.Background()
		builtin := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)
		_, err := n.tenant.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: []orchestratorapi.Tool{
			{Name: "memory_put", Type: builtin},
		}}, orchestratorapi.PutAgentParams{AgentID: "resumer"})
		require.NoError(t, err)
		res, err := n.tenant.CreateRun(ctx, &orchestratorapi.RunInput{Input: "store two things"}, orchestratorapi.CreateRunParams{AgentID: "resumer"})
		require.NoError(t, err)
		runID := res.Response.RunID

		// The first attempt, by hand: the model asked for two memory_put calls; one
		// result was recorded; then the worker died.
		wc, err := orchestratorapi.NewClient(n.node.URL(platform.Orchestrator), creds{worker: n.node.WorkerToken})
		require.NoError(t, err)
		lease, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: "doomed", MaxRuns: orchestratorapi.NewOptInt32(1)})
		require.NoError(t, err)
		require.Len(t, lease.Runs, 1)
		lr := lease.Runs[0]
		require.Empty(t, lr.History)
		call := func(id, key string) map[string]any {
			return map[string]any{"id": id, "type": "function", "function": map[string]any{
				"name": "memory_put", "arguments": fmt.Sprintf(`{"key": %q, "value": "v-%s"}`, key, key)}}
		}
		_, err = wc.AppendRunEvents(ctx, &orchestratorapi.AppendEventsInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken,
			Events: []orchestratorapi.WorkerEvent{
				{Type: orchestratorapi.WorkerEventTypeModelMessage, Data: rawData(map[string]any{"role": "assistant", "content": "",
					"tool_calls": []any{call("call_a", "a"), call("call_b", "b")}, "usage": map[string]int{"prompt_tokens": 100, "completion_tokens": 10}})},
				{Type: orchestratorapi.WorkerEventTypeToolCall, Data: rawData(map[string]any{"id": "call_a", "name": "memory_put"})},
				{Type: orchestratorapi.WorkerEventTypeToolCall, Data: rawData(map[string]any{"id": "call_b", "name": "memory_put"})},
				{Type: orchestratorapi.WorkerEventTypeToolResult, Data: rawData(map[string]any{"id": "call_a", "name": "memory_put", "content": "stored a"})},
			}}, orchestratorapi.AppendRunEventsParams{RunID: runID})
		require.NoError(t, err)

		// A real worker takes the run over once the first lease lapses.
		w, err := worker.New(worker.Config{ID: "rescuer", OrchestratorURL: n.node.URL(platform.Orchestrator),
			ModelPolicyURL: n.node.URL(platform.ModelPolicy), WorkerToken: n.node.WorkerToken, Concurrency: 1})
		require.NoError(t, err)
		wctx, stopWorker := context.WithCancel(ctx)
		wdone := make(chan error, 1)
		go func() { wdone <- w.Run(wctx) }()
		t.Cleanup(func() { stopWorker(); <-wdone })

		run := n.wait(t, runID)
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.EqualValues(t, 2, run.Attempt)
		require.Equal(t, "The tools returned: stored a; stored b", run.Output.Or(""), "the recorded result is reused, in call order")
		require.Greater(t, run.Usage.PromptTokens, int64(100), "the first attempt's recorded usage counts")

		_, err = n.tenant.GetMemory(ctx, orchestratorapi.GetMemoryParams{Namespace: "resumer", Key: "a"})
		require.Error(t, err, "call_a had a recorded result: it must not run again")
		item, err := n.tenant.GetMemory(ctx, orchestratorapi.GetMemoryParams{Namespace: "resumer", Key: "b"})
		require.NoError(t, err, "call_b had no result: it runs on the second attempt")
		require.Equal(t, "v-b", item.Value)

		var second []string
		results := map[string]int{}
		started := 0
		for _, e := range n.events(t, runID) {
			if e.Type == "run.started" {
				started++
			}
			if e.Type == "tool.result" {
				results[str(e.Data["id"])]++
			}
			if started == 2 && e.Type != "model.delta" {
				second = append(second, e.Type)
			}
		}
		require.Equal(t, map[string]int{"call_a": 1, "call_b": 1}, results)
		require.Equal(t, []string{"run.started", "tool.result", "model.message", "run.completed"}, second,
			"the second attempt announces nothing again and makes one model call")
	})
}

// A stopping worker leases nothing more and waits DrainTimeout for the runs it holds;
// a run still going then is abandoned, not failed: its lease lapses and another worker
// resumes it.
func TestStopDrainsThenAbandons(t *testing.T) {
	t.Parallel()
	upstream := upstreamtest.New(upstreamtest.Behavior{Words: 400, ChunkDelay: 50 * time.Millisecond}, false)
	t.Cleanup(upstream.Close)
	providers := filepath.Join(t.TempDir(), "providers.yaml")
	require.NoError(t, os.WriteFile(providers, []byte("providers:\n  - name: slow\n    type: openai\n    base_url: "+upstream.BaseURL()+
		"\nmodels:\n  - name: slow-chat\n    type: chat\n    deployments: [{provider: slow}]\n"), 0o600))
	n := newTestNode(t, "", func(c *config.Config) { c.Workers = 0; c.ModelProvidersFile = providers })
	ctx := context.Background()
	_, err := n.tenant.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "slow-chat"}, orchestratorapi.PutAgentParams{AgentID: "slow"})
	require.NoError(t, err)

	w, err := worker.New(worker.Config{ID: "stopping", OrchestratorURL: n.node.URL(platform.Orchestrator),
		ModelPolicyURL: n.node.URL(platform.ModelPolicy), WorkerToken: n.node.WorkerToken, DrainTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	wctx, stopWorker := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx) }()

	res, err := n.tenant.CreateRun(ctx, &orchestratorapi.RunInput{Input: "talk for a long time"}, orchestratorapi.CreateRunParams{AgentID: "slow"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, e := range n.events(t, res.Response.RunID) {
			if e.Type == "model.delta" {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the model never started streaming")

	stopped := time.Now()
	stopWorker()
	select {
	case err := <-wdone:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not stop after its drain timeout")
	}
	t.Logf("stopped %s after the signal", time.Since(stopped))
	require.Less(t, time.Since(stopped), 3*time.Second)

	run, err := n.tenant.GetRun(ctx, orchestratorapi.GetRunParams{RunID: res.Response.RunID})
	require.NoError(t, err)
	require.Equal(t, orchestratorapi.RunStatusRunning, run.Status, "abandoned, not failed: its lease lapses and it is resumed")

	later, err := n.tenant.CreateRun(ctx, &orchestratorapi.RunInput{Input: "x"}, orchestratorapi.CreateRunParams{AgentID: "slow"})
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond)
	run, err = n.tenant.GetRun(ctx, orchestratorapi.GetRunParams{RunID: later.Response.RunID})
	require.NoError(t, err)
	require.Equal(t, orchestratorapi.RunStatusQueued, run.Status, "a stopped worker leases nothing")
}

// A worker with more slots than one lease call may ask for (max_runs ≤ 64) still leases.
func TestWorkerWithManySlotsLeases(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, "", func(c *config.Config) { c.Workers = 0 })
	ctx := context.Background()
	_, err := n.tenant.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat"}, orchestratorapi.PutAgentParams{AgentID: "echo"})
	require.NoError(t, err)
	w, err := worker.New(worker.Config{ID: "wide", OrchestratorURL: n.node.URL(platform.Orchestrator),
		ModelPolicyURL: n.node.URL(platform.ModelPolicy), WorkerToken: n.node.WorkerToken, Concurrency: 100})
	require.NoError(t, err)
	wctx, stopWorker := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx) }()
	t.Cleanup(func() { stopWorker(); <-wdone })
	res, err := n.tenant.CreateRun(ctx, &orchestratorapi.RunInput{Input: "hello"}, orchestratorapi.CreateRunParams{AgentID: "echo"})
	require.NoError(t, err)
	run := n.wait(t, res.Response.RunID)
	require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
	require.Equal(t, "You said: hello", run.Output.Or(""))
}

// A tool that returns before the worker's DeltaFlush posts its tool.result in the same
// batch as its announcement (and the step's model.message): one round trip instead of
// two. The events are the same, in the same order.
func TestQuickToolIsAnnouncedWithItsResult(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, "", func(c *config.Config) { c.Workers = 0 })
	ctx := context.Background()
	var appends atomic.Int64
	orch, err := url.Parse(n.node.URL(platform.Orchestrator))
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(orch)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/events") {
			appends.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	w, err := worker.New(worker.Config{ID: "quick", OrchestratorURL: counting.URL, ModelPolicyURL: n.node.URL(platform.ModelPolicy),
		WorkerToken: n.node.WorkerToken, DeltaFlush: time.Minute})
	require.NoError(t, err)
	wctx, stopWorker := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx) }()
	t.Cleanup(func() { stopWorker(); <-wdone })

	_, err = n.tenant.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: []orchestratorapi.Tool{
		{Name: "calculator", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)},
	}}, orchestratorapi.PutAgentParams{AgentID: "quick"})
	require.NoError(t, err)
	res, err := n.tenant.CreateRun(ctx, &orchestratorapi.RunInput{Input: `/tool calculator {"expression": "6 * 7"}`}, orchestratorapi.CreateRunParams{AgentID: "quick"})
	require.NoError(t, err)
	run := n.wait(t, res.Response.RunID)
	require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
	require.Equal(t, "The tool returned: 42", run.Output.Or(""))
	var types []string
	for _, e := range n.events(t, run.RunID) {
		if e.Type != "model.delta" {
			types = append(types, e.Type)
		}
	}
	require.Equal(t, []string{"run.queued", "run.started", "model.message", "tool.call", "tool.result", "model.message", "run.completed"}, types)
	require.Equal(t, int64(1), appends.Load(), "the first step's events and the tool's result in one batch; the last step's ride on :complete")
}
