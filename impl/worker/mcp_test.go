package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/worker/mcptest"
)

// TestMain lets the test binary serve as the stdio MCP test server (mcptest.StdioServer).
func TestMain(m *testing.M) {
	mcptest.ServeIfAsked()
	os.Exit(m.Run())
}

func TestMCPToolName(t *testing.T) {
	t.Parallel()
	taken := map[string]bool{"calculator": true, "fs__read": true}
	name, err := mcpToolName("files", "read", taken)
	require.NoError(t, err)
	require.Equal(t, "files__read", name, "entry__tool when that is a valid, free name")

	name, err = mcpToolName("fs", "read", taken)
	require.NoError(t, err)
	require.Regexp(t, `^fs__read_[0-9a-f]{8}$`, name, "a name another tool has gets a hash suffix")

	name, err = mcpToolName("files", "git.log", taken)
	require.NoError(t, err)
	require.Regexp(t, `^files__git_log_[0-9a-f]{8}$`, name, "characters outside the set become _, with a suffix so git.log and git_log differ")
	other, err := mcpToolName("files", "git_log", taken)
	require.NoError(t, err)
	require.Equal(t, "files__git_log", other)
	again, err := mcpToolName("files", "git.log", map[string]bool{})
	require.NoError(t, err)
	require.Equal(t, name, again, "stable for the same entry and tool")

	long := strings.Repeat("x", 100)
	name, err = mcpToolName("files", long, taken)
	require.NoError(t, err)
	require.Len(t, name, maxToolName)
	require.Regexp(t, validToolName, name)
	require.True(t, strings.HasPrefix(name, "files__xxx"))
}

func TestDefaultMCPEnvPassesOnlyTheBasics(t *testing.T) {
	t.Parallel()
	for _, kv := range defaultMCPEnv() {
		k, _, _ := strings.Cut(kv, "=")
		require.Contains(t, mcpInheritedEnv, k)
	}
}

func TestResultText(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("a", mcpMaxResult+10)
	out := resultText(&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: big}}})
	require.Len(t, out, mcpMaxResult+len("\n[truncated: the result had 262154 bytes]"))
	require.True(t, strings.HasSuffix(out, "[truncated: the result had 262154 bytes]"))
}

// The worker's MCP sessions, over stdio and Streamable HTTP, list and call tools, honour
// a cancel mid-call at once, and leave neither goroutines nor processes behind when they
// close. Not parallel: the goroutine check needs the package to itself.
func TestMCPSessionsLeaveNothingBehind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := mcptest.NewHTTPServer()
	defer srv.Close()
	command, env, err := mcptest.StdioServer()
	require.NoError(t, err)
	pidFile := filepath.Join(t.TempDir(), "pid")
	env[mcptest.EnvPIDFile] = pidFile

	w, err := New(Config{OrchestratorURL: "http://127.0.0.1:1", ModelPolicyURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	mcpType := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp)
	agent := orchestratorapi.Agent{Tools: []orchestratorapi.Tool{
		{Name: "local", Type: mcpType, Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{
			Transport: orchestratorapi.McpServerTransportStdio, Command: command, Env: orchestratorapi.NewOptStringMap(env)})},
		{Name: "remote", Type: mcpType, Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{
			Transport: orchestratorapi.McpServerTransportHTTP, URL: orchestratorapi.NewOptString(srv.URL), Tools: []string{"add", "slow", "fail"}})},
	}}
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	rs := &runState{w: w, lr: orchestratorapi.LeasedRun{Agent: agent}, ctx: ctx, stop: stop}
	defs, err := rs.openMCP()
	require.NoError(t, err)
	var names []string
	for _, d := range defs {
		names = append(names, d.Function.Name)
		require.NotEmpty(t, d.Function.Parameters, "%s is offered with its input schema", d.Function.Name)
	}
	slices.Sort(names)
	require.Equal(t, []string{"local__add", "local__echo", "local__fail", "local__getenv", "local__slow", "remote__add", "remote__fail", "remote__slow"}, names)

	call := func(name, args string) (string, error) {
		tool, ok := rs.mcp.tool(name)
		require.True(t, ok, name)
		return rs.callMCP(tool, args)
	}
	out, err := call("local__echo", `{"text": "over stdio"}`)
	require.NoError(t, err)
	require.Equal(t, "over stdio", out)
	out, err = call("remote__add", `{"a": 2, "b": 40}`)
	require.NoError(t, err)
	require.Equal(t, "42", out)
	_, err = call("remote__fail", `{"message": "boom"}`)
	require.EqualError(t, err, "boom", "an isError result is the tool's error")
	_, err = call("remote__add", `{"a": "two"}`)
	require.ErrorContains(t, err, `arguments of "remote__add" do not match its parameters`)
	out, err = call("local__getenv", `{"name": "AGENTOS_MCPTEST_SERVE"}`)
	require.NoError(t, err)
	require.Equal(t, "stdio", out, "the entry's env reaches the server")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(mcpInheritedEnv, k) {
			out, err = call("local__getenv", `{"name": "`+k+`"}`)
			require.NoError(t, err)
			require.Equal(t, "(unset)", out, "the worker's %s does not reach the server", k)
			break
		}
	}

	// A stop of the run cancels slow calls on both transports at once.
	errs := make(chan error, 2)
	start := time.Now()
	for _, name := range []string{"local__slow", "remote__slow"} {
		go func() {
			_, err := call(name, `{"seconds": 30}`)
			errs <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	stop(errCancelled)
	for range 2 {
		err := <-errs
		require.Error(t, err)
		require.True(t, errors.Is(err, context.Canceled), "%v", err)
	}
	require.Less(t, time.Since(start), time.Second+200*time.Millisecond)

	pid := readPID(t, pidFile)
	require.NoError(t, syscall.Kill(pid, 0), "the stdio server runs while the session is open")
	rs.closeMCP()
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the stdio server has exited and been waited for")
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	return pid
}
