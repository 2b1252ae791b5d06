package worker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/worker/mcptest"
	"github.com/nexixai/agentos/internal/nodetest"
	"github.com/nexixai/agentos/internal/platform"
)

// mcpBundle is a node with embedded workers and a tenant client.
type mcpBundle struct {
	c   *orchestratorapi.Client
	ctx context.Context
}

func setupMCP(t *testing.T) *mcpBundle {
	t.Helper()
	cfg := testConfig(t)
	cfg.Workers = 2
	node, ctx := nodetest.Serve(t, cfg)
	c, err := orchestratorapi.NewClient(node.URL(platform.Orchestrator), creds{tenant: cfg.DefaultTenant})
	require.NoError(t, err)
	return &mcpBundle{c: c, ctx: ctx}
}

// stdioServer is an MCP tool entry whose server is this test binary over stdio; it
// writes its pid to the returned file.
func stdioServer(t *testing.T, name string, filter ...string) (orchestratorapi.Tool, string) {
	t.Helper()
	command, env, err := mcptest.StdioServer()
	require.NoError(t, err)
	pidFile := filepath.Join(t.TempDir(), "pid")
	env[mcptest.EnvPIDFile] = pidFile
	env["MCP_GREETING"] = "hello from the entry's env"
	return orchestratorapi.Tool{Name: name, Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp),
		Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{Transport: orchestratorapi.McpServerTransportStdio,
			Command: command, Env: orchestratorapi.NewOptStringMap(env), Tools: filter})}, pidFile
}

func httpServer(t *testing.T, name string) orchestratorapi.Tool {
	t.Helper()
	srv := mcptest.NewHTTPServer()
	t.Cleanup(srv.Close)
	return orchestratorapi.Tool{Name: name, Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp),
		Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{Transport: orchestratorapi.McpServerTransportHTTP, URL: orchestratorapi.NewOptString(srv.URL)})}
}

func (b *mcpBundle) agent(t *testing.T, id string, tools ...orchestratorapi.Tool) {
	t.Helper()
	_, err := b.c.PutAgent(b.ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: tools}, orchestratorapi.PutAgentParams{AgentID: orchestratorapi.AgentId(id)})
	require.NoError(t, err)
}

func (b *mcpBundle) start(t *testing.T, agent, input string) orchestratorapi.RunId {
	t.Helper()
	res, err := b.c.CreateRun(b.ctx, &orchestratorapi.RunInput{Input: input}, orchestratorapi.CreateRunParams{AgentID: orchestratorapi.AgentId(agent)})
	require.NoError(t, err)
	return res.Response.RunID
}

func (b *mcpBundle) wait(t *testing.T, id orchestratorapi.RunId) *orchestratorapi.Run {
	t.Helper()
	run, err := b.c.WaitRun(b.ctx, orchestratorapi.WaitRunParams{RunID: id, Timeout: orchestratorapi.NewOptString("30s")})
	require.NoError(t, err)
	return run
}

// toolEvents are a run's tool.call and tool.result events as "TYPE NAME DATA" lines,
// DATA being the call's arguments or the result's content.
func (b *mcpBundle) toolEvents(t *testing.T, id orchestratorapi.RunId) []string {
	t.Helper()
	page, err := b.c.GetRunEvents(b.ctx, orchestratorapi.GetRunEventsParams{RunID: id, Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON), Limit: orchestratorapi.NewOptInt32(1000)})
	require.NoError(t, err)
	var out []string
	for _, e := range page.(*orchestratorapi.RunEventPage).Events {
		if e.Type != "tool.call" && e.Type != "tool.result" {
			continue
		}
		var name, data string
		require.NoError(t, json.Unmarshal(e.Data["name"], &name))
		switch e.Type {
		case "tool.call":
			var args map[string]any
			require.NoError(t, json.Unmarshal(e.Data["arguments"], &args))
			b, _ := json.Marshal(args)
			data = string(b)
		case "tool.result":
			require.NoError(t, json.Unmarshal(e.Data["content"], &data))
		}
		out = append(out, e.Type+" "+name+" "+data)
	}
	return out
}

// gone waits until the process has exited and been waited for.
func gone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err, "the stdio server was started")
	pid, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH }, 10*time.Second, 10*time.Millisecond,
		"the stdio MCP server (pid %d) is left after the run", pid)
}

// An agent's MCP tools work end to end, over stdio and over Streamable HTTP: the builtin
// model calls them by their offered names, the worker calls the server, and the server's
// answer is the tool's result in the events and in the model's final answer.
func TestMCPTools(t *testing.T) {
	t.Parallel()
	b := setupMCP(t)

	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		entry, pidFile := stdioServer(t, "local")
		b.agent(t, "mcp-stdio", entry)
		run := b.wait(t, b.start(t, "mcp-stdio", `/tool local__echo {"text": "hello over stdio"}`))
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.Equal(t, "The tool returned: hello over stdio", run.Output.Or(""))
		require.Equal(t, []string{
			`tool.call local__echo {"text":"hello over stdio"}`,
			`tool.result local__echo hello over stdio`,
		}, b.toolEvents(t, run.RunID))
		gone(t, pidFile)

		run = b.wait(t, b.start(t, "mcp-stdio", `/tool local__getenv {"name": "MCP_GREETING"}`))
		require.Equal(t, "The tool returned: hello from the entry's env", run.Output.Or(""), "%+v", run.Error)
	})

	t.Run("streamable http", func(t *testing.T) {
		t.Parallel()
		b.agent(t, "mcp-http", httpServer(t, "remote"))
		run := b.wait(t, b.start(t, "mcp-http", `/tool remote__add {"a": 2, "b": 40}`))
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.Equal(t, "The tool returned: 42", run.Output.Or(""))
		require.Equal(t, []string{`tool.call remote__add {"a":2,"b":40}`, `tool.result remote__add 42`}, b.toolEvents(t, run.RunID))
	})

	t.Run("a tool error is the model's to read", func(t *testing.T) {
		t.Parallel()
		b.agent(t, "mcp-errors", httpServer(t, "remote"))
		run := b.wait(t, b.start(t, "mcp-errors", `/tool remote__fail {"message": "disk full"}`))
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.Equal(t, "The tool returned: error: disk full", run.Output.Or(""))

		run = b.wait(t, b.start(t, "mcp-errors", `/tool remote__add {"a": "two", "b": 1}`))
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.Contains(t, run.Output.Or(""), `error: arguments of "remote__add" do not match its parameters`, "checked against the server's input schema")
	})

	t.Run("the tools filter hides the others", func(t *testing.T) {
		t.Parallel()
		entry, _ := stdioServer(t, "picked", "echo")
		b.agent(t, "mcp-filter", entry)
		run := b.wait(t, b.start(t, "mcp-filter", `/tool picked__add {"a": 1, "b": 2}`))
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.Equal(t, "I cannot call picked__add: it is not among the offered tools.", run.Output.Or(""))
		require.Empty(t, b.toolEvents(t, run.RunID))
	})

	t.Run("a server that does not start fails the run", func(t *testing.T) {
		t.Parallel()
		missing := orchestratorapi.Tool{Name: "broken", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp),
			Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{Transport: orchestratorapi.McpServerTransportStdio,
				Command: []string{filepath.Join(t.TempDir(), "no-such-server")}})}
		b.agent(t, "mcp-missing", missing)
		run := b.wait(t, b.start(t, "mcp-missing", "hi"))
		require.Equal(t, orchestratorapi.RunStatusFailed, run.Status)
		require.Equal(t, "mcp_error", run.Error.Value.Code)
		require.Contains(t, run.Error.Value.Message, `MCP server "broken"`)

		entry, _ := stdioServer(t, "typo", "ecko")
		b.agent(t, "mcp-typo", entry)
		run = b.wait(t, b.start(t, "mcp-typo", "hi"))
		require.Equal(t, orchestratorapi.RunStatusFailed, run.Status)
		require.Equal(t, "mcp_error", run.Error.Value.Code)
		require.Contains(t, run.Error.Value.Message, `the server has no tool "ecko"`)
	})

	t.Run("cancel in the middle of a slow tool", func(t *testing.T) {
		t.Parallel()
		entry, pidFile := stdioServer(t, "local")
		b.agent(t, "mcp-slow", entry)
		id := b.start(t, "mcp-slow", `/tool local__slow {"seconds": 60}`)
		require.Eventually(t, func() bool { return len(b.toolEvents(t, id)) > 0 }, 20*time.Second, 20*time.Millisecond, "the tool was never called")
		time.Sleep(100 * time.Millisecond) // the call reaches the server
		cancelled := time.Now()
		_, err := b.c.CancelRun(b.ctx, orchestratorapi.CancelRunParams{RunID: id})
		require.NoError(t, err)
		run := b.wait(t, id)
		require.Equal(t, orchestratorapi.RunStatusCancelled, run.Status, "%+v", run.Error)
		elapsed := time.Since(cancelled)
		t.Logf("cancelled %s after the request", elapsed)
		require.Less(t, elapsed, time.Second, "run.cancelled arrives within a second of the request")
		gone(t, pidFile)
	})
}
