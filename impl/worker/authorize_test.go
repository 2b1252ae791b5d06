package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// fakeRun is a run of tenant t_1 whose Model Policy answers authorize with answer.
func fakeRun(t *testing.T, answer http.HandlerFunc) (*runState, *[]map[string]any) {
	t.Helper()
	var asked []map[string]any
	mp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/tools:authorize", r.URL.Path)
		require.Equal(t, "t_1", r.Header.Get("X-Tenant-Id"))
		var body map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		asked = append(asked, body)
		answer(w, r)
	}))
	t.Cleanup(mp.Close)
	return runWith(t, mp.URL), &asked
}

func runWith(t *testing.T, mpURL string) *runState {
	t.Helper()
	w, err := New(Config{ModelPolicyURL: mpURL, OrchestratorURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	lr := orchestratorapi.LeasedRun{
		Run: orchestratorapi.Run{RunID: "run_1", TenantID: "t_1"},
		Agent: orchestratorapi.Agent{AgentID: "a_1", Tools: []orchestratorapi.Tool{
			{Name: "calculator", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)},
			{Name: "http_fetch", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)},
			{Name: "lookup"},
		}},
	}
	return &runState{w: w, lr: lr, ctx: context.Background()}
}

func call(name, args string) toolCall {
	var c toolCall
	c.Function.Name, c.Function.Arguments = name, args
	return c
}

func decision(allow bool, obligations string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"allow":` + map[bool]string{true: "true", false: "false"}[allow] +
			`,"reasons":["nope"],"obligations":` + obligations + `,"policy_revision":"r","input":{}}`))
	}
}

func TestEveryToolCallIsAuthorized(t *testing.T) {
	t.Parallel()
	rs, asked := fakeRun(t, decision(true, `{}`))
	out, err := rs.callTool(call("calculator", `{"expression":"6*7"}`))
	require.NoError(t, err)
	require.Equal(t, "42", out)
	_, err = rs.callTool(call("lookup", `{}`))
	require.ErrorContains(t, err, `tool "lookup" has no executor`, "a function tool is authorized too")
	_, err = rs.callTool(call("calculator", `{"expr":"1"}`))
	require.ErrorContains(t, err, "do not match", "invalid arguments are refused before the policy is asked")
	require.Equal(t, []map[string]any{
		{"tool": "calculator", "type": "builtin", "run_id": "run_1", "agent_id": "a_1"},
		{"tool": "lookup", "type": "function", "run_id": "run_1", "agent_id": "a_1"},
	}, *asked)
}

func TestToolCallRefusals(t *testing.T) {
	t.Parallel()
	t.Run("a 403 carries the reasons", func(t *testing.T) {
		rs, _ := fakeRun(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Forbidden","status":403,"code":"permission_denied","detail":"denied by policy: a; b","errors":[{"field":"policy","reason":"a"},{"field":"policy","reason":"b"}]}`))
		})
		_, err := rs.callTool(call("calculator", `{"expression":"1"}`))
		require.EqualError(t, err, "policy denied tool calculator: a; b")
	})
	t.Run("an allow=false answer is a deny", func(t *testing.T) {
		rs, _ := fakeRun(t, decision(false, `{}`))
		_, err := rs.callTool(call("calculator", `{"expression":"1"}`))
		require.EqualError(t, err, "policy denied tool calculator: nope")
	})
	t.Run("a failing Model Policy refuses the call", func(t *testing.T) {
		rs, _ := fakeRun(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Internal","status":500,"code":"internal_error","detail":"policy evaluation failed"}`))
		})
		_, err := rs.callTool(call("calculator", `{"expression":"1"}`))
		require.EqualError(t, err, "tool calculator not run: the policy check failed: 500 internal_error: policy evaluation failed")
	})
	t.Run("an unreachable Model Policy refuses the call", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		_, err := runWith(t, srv.URL).callTool(call("calculator", `{"expression":"1"}`))
		require.ErrorContains(t, err, "tool calculator not run: the policy check failed")
	})
	t.Run("http_fetch needs limits in the decision", func(t *testing.T) {
		rs, asked := fakeRun(t, decision(true, `{}`))
		_, err := rs.callTool(call("http_fetch", `{"url":"https://Example.com/a#frag"}`))
		require.ErrorContains(t, err, "http_fetch refused: the policy's decision sets no max_bytes and timeout_ms obligations")
		require.Equal(t, "https://Example.com/a", (*asked)[0]["url"], "the policy is asked about the URL as it will be requested")
	})
}

// A tool of an MCP server is authorized as type mcp, naming the agent's server, before
// the server is called.
func TestMCPToolCallsAreAuthorizedAsMCP(t *testing.T) {
	t.Parallel()
	rs, asked := fakeRun(t, decision(false, `{}`))
	rs.lr.Agent.Tools = append(rs.lr.Agent.Tools, orchestratorapi.Tool{Name: "files", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp),
		Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{Transport: orchestratorapi.McpServerTransportHTTP, URL: orchestratorapi.NewOptString("http://mcp.example/mcp")})})
	rs.mcp = &mcpSet{tools: map[string]*mcpTool{"files__read": {name: "files__read", remote: "read", conn: &mcpConn{entry: "files"}}}}
	_, err := rs.callTool(call("files__read", `{}`))
	require.ErrorContains(t, err, "nope", "the deny's reasons reach the model; the server is not called")
	require.Equal(t, []map[string]any{
		{"tool": "files__read", "type": "mcp", "server": "http://mcp.example/mcp", "run_id": "run_1", "agent_id": "a_1"},
	}, *asked)
}
