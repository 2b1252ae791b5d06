package worker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
	"github.com/nexixai/agentos/impl/worker"
	"github.com/nexixai/agentos/internal/nodetest"
	"github.com/nexixai/agentos/internal/platform"
)

// An embedded worker runs an agent loop end to end: the builtin model calls the
// calculator, the worker executes it, and the model's final answer completes the run,
// with every step in the event log.
func TestEmbeddedWorkerRunsAnAgentLoop(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	node, ctx := nodetest.Serve(t, cfg)

	c, err := orchestratorapi.NewClient(node.URL(platform.Orchestrator), creds{tenant: cfg.DefaultTenant})
	require.NoError(t, err)
	_, err = c.PutAgent(ctx, &orchestratorapi.AgentInput{
		Model: "builtin-chat", Instructions: orchestratorapi.NewOptString("Use the calculator."),
		Tools: []orchestratorapi.Tool{{Name: "calculator", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)}},
	}, orchestratorapi.PutAgentParams{AgentID: "calc"})
	require.NoError(t, err)
	res, err := c.CreateRun(ctx, &orchestratorapi.RunInput{Input: `/tool calculator {"expression": "6 * (3 + 4)"}`}, orchestratorapi.CreateRunParams{AgentID: "calc"})
	require.NoError(t, err)

	run, err := c.WaitRun(ctx, orchestratorapi.WaitRunParams{RunID: res.Response.RunID, Timeout: orchestratorapi.NewOptString("30s")})
	require.NoError(t, err)
	require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "run error: %+v", run.Error)
	require.Equal(t, "The tool returned: 42", run.Output.Or(""))
	require.Positive(t, run.Usage.PromptTokens)
	require.Positive(t, run.Usage.CompletionTokens)

	page, err := c.GetRunEvents(ctx, orchestratorapi.GetRunEventsParams{RunID: run.RunID, Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON), Limit: orchestratorapi.NewOptInt32(1000)})
	require.NoError(t, err)
	var types []string
	var deltas strings.Builder
	for _, e := range page.(*orchestratorapi.RunEventPage).Events {
		if e.Type == "model.delta" {
			deltas.WriteString(strings.Trim(string(e.Data["text"]), `"`))
			continue
		}
		types = append(types, e.Type)
	}
	require.Equal(t, []string{"run.queued", "run.started", "model.message", "tool.call", "tool.result", "model.message", "run.completed"}, types)
	require.Equal(t, "The tool returned: 42", deltas.String(), "the streamed deltas add up to the answer")
}

// Memory tools act for the run's tenant: one run stores, a later one reads it back.
func TestMemoryToolsAcrossRuns(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	node, ctx := nodetest.Serve(t, cfg)

	c, err := orchestratorapi.NewClient(node.URL(platform.Orchestrator), creds{tenant: cfg.DefaultTenant})
	require.NoError(t, err)
	builtin := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)
	_, err = c.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: []orchestratorapi.Tool{
		{Name: "memory_put", Type: builtin}, {Name: "memory_get", Type: builtin}, {Name: "memory_search", Type: builtin},
	}}, orchestratorapi.PutAgentParams{AgentID: "rememberer"})
	require.NoError(t, err)
	run := func(input string) *orchestratorapi.Run {
		res, err := c.CreateRun(ctx, &orchestratorapi.RunInput{Input: input}, orchestratorapi.CreateRunParams{AgentID: "rememberer"})
		require.NoError(t, err)
		r, err := c.WaitRun(ctx, orchestratorapi.WaitRunParams{RunID: res.Response.RunID, Timeout: orchestratorapi.NewOptString("30s")})
		require.NoError(t, err)
		require.Equal(t, orchestratorapi.RunStatusCompleted, r.Status, "%+v", r.Error)
		return r
	}
	require.Equal(t, "The tool returned: stored colour", run(`/tool memory_put {"key": "colour", "value": "my favourite colour is teal"}`).Output.Or(""))
	require.Equal(t, "The tool returned: my favourite colour is teal", run(`/tool memory_get {"key": "colour"}`).Output.Or(""))
	require.Contains(t, run(`/tool memory_search {"query": "favourite colour"}`).Output.Or(""), `"key":"colour"`)
	item, err := c.GetMemory(ctx, orchestratorapi.GetMemoryParams{Namespace: "rememberer", Key: "colour"})
	require.NoError(t, err, "the agent's id is its memory namespace")
	require.Equal(t, "my favourite colour is teal", item.Value)
}

func TestCalculate(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]float64{"1+2*3": 7, "(1+2)*3": 9, "-4 / 2": -2, "2.5*4": 10, " 7 ": 7, "--3": 3} {
		got, err := worker.Calculate(expr)
		require.NoError(t, err, expr)
		require.InDelta(t, want, got, 1e-9, expr)
	}
	for _, bad := range []string{"", "1/0", "2+", "(1", "1)", "abc", strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100)} {
		_, err := worker.Calculate(bad)
		require.Error(t, err, bad)
	}
}

// A cancel in the middle of a slow model stream ends the run cancelled within about a
// second: the worker sees cancel_requested on its next heartbeat or event post.
func TestCancelMidStream(t *testing.T) {
	t.Parallel()
	upstream := upstreamtest.New(upstreamtest.Behavior{Words: 400, ChunkDelay: 50 * time.Millisecond}, false)
	t.Cleanup(upstream.Close)
	dir := t.TempDir()
	providers := filepath.Join(dir, "providers.yaml")
	require.NoError(t, os.WriteFile(providers, []byte(`providers:
  - name: slow
    type: openai
    base_url: `+upstream.BaseURL()+`
models:
  - name: slow-chat
    type: chat
    deployments: [{provider: slow}]
`), 0o600))
	cfg := testConfig(t)
	cfg.DataDir = dir
	cfg.ModelProvidersFile = providers
	node, ctx := nodetest.Serve(t, cfg)

	c, err := orchestratorapi.NewClient(node.URL(platform.Orchestrator), creds{tenant: cfg.DefaultTenant})
	require.NoError(t, err)
	_, err = c.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "slow-chat"}, orchestratorapi.PutAgentParams{AgentID: "slow"})
	require.NoError(t, err)
	res, err := c.CreateRun(ctx, &orchestratorapi.RunInput{Input: "talk for a long time"}, orchestratorapi.CreateRunParams{AgentID: "slow"})
	require.NoError(t, err)
	id := res.Response.RunID

	// Wait until deltas are streaming, then cancel.
	require.Eventually(t, func() bool {
		page, err := c.GetRunEvents(ctx, orchestratorapi.GetRunEventsParams{RunID: id, Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON)})
		if err != nil {
			return false
		}
		for _, e := range page.(*orchestratorapi.RunEventPage).Events {
			if e.Type == "model.delta" {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the model never started streaming")
	cancelled := time.Now()
	_, err = c.CancelRun(ctx, orchestratorapi.CancelRunParams{RunID: id})
	require.NoError(t, err)
	run, err := c.WaitRun(ctx, orchestratorapi.WaitRunParams{RunID: id, Timeout: orchestratorapi.NewOptString("10s")})
	require.NoError(t, err)
	require.Equal(t, orchestratorapi.RunStatusCancelled, run.Status)
	elapsed := time.Since(cancelled)
	t.Logf("cancelled %s after the request", elapsed)
	require.Less(t, elapsed, time.Second, "run.cancelled arrives within a second of the request")
}
