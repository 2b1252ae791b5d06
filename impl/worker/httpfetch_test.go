package worker_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/nodetest"
	"github.com/nexixai/agentos/internal/platform"
)

// fetchBundle is a node with an embedded worker and a policy directory (the embedded
// bundle's Rego with fetchPolicyData), and a test HTTP server on 127.0.0.1.
type fetchBundle struct {
	ctx   context.Context
	node  *platform.Node
	srv   *httptest.Server
	port  string
	hits  atomic.Int64
	admin *orchestratorapi.Client
}

// fetchPolicyData: the default tenant may fetch from 127.0.0.1 only, internal targets
// allowed (httptest listens on loopback), bodies up to 64 bytes; tenant "strict" may
// call http_fetch and memory tools only, on every host, internal targets refused.
const fetchPolicyData = `{"agentos": {"model_settings": {
  "defaults": {"models": ["*"], "tools": ["*"], "max_tokens": 4096, "http_hosts": [], "http_allow_internal": false},
  "tenants": {
    "tnt_demo": {"http_hosts": ["127.0.0.1"], "http_allow_internal": true, "http_max_bytes": 64},
    "strict": {"tools": ["http_fetch", "memory_*"], "http_hosts": ["**"]}
  }}}}`

// agentRule is a policy author's rule on tool calls: agent "fetcher" may not use the
// calculator, although the tenant may offer it to models.
const agentRule = `package agentos.model

deny contains "the calculator is off for agent fetcher" if {
	input.operation == "tool.call"
	input.tool.name == "calculator"
	input.agent_id == "fetcher"
}
`

func setupFetch(t *testing.T) *fetchBundle {
	t.Helper()
	b := &fetchBundle{}
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("hello from the test server"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.Repeat("é", 100))) // 200 bytes
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte{0x89, 'P', 'N', 'G', 0, 1, 2})
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/page", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+b.port+"/page", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	_, b.port, _ = net.SplitHostPort(b.srv.Listener.Addr().String())

	dir := t.TempDir()
	pol := filepath.Join(dir, "policy")
	require.NoError(t, os.MkdirAll(pol, 0o700))
	for _, name := range []string{"model.rego", "tool.rego"} {
		rego, err := os.ReadFile(filepath.Join("../../policy", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(pol, name), rego, 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(pol, "data.json"), []byte(fetchPolicyData), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(pol, "agents.rego"), []byte(agentRule), 0o600))

	cfg := testConfig(t)
	cfg.DataDir = dir
	cfg.PolicyDir = pol
	node, ctx := nodetest.Serve(t, cfg)
	b.ctx, b.node = ctx, node
	var err error
	b.admin, err = orchestratorapi.NewClient(node.URL(platform.Orchestrator), creds{admin: node.AdminToken})
	require.NoError(t, err)
	_, err = b.admin.PutTenant(ctx, &orchestratorapi.TenantInput{}, orchestratorapi.PutTenantParams{TenantID: "strict"})
	require.NoError(t, err)
	return b
}

// agent puts the agent "fetcher" with the builtin model and the builtin tools in
// tenant, and returns a function that runs it on an input and returns the output.
func (b *fetchBundle) agent(t *testing.T, tenant string, tools ...string) func(input string) string {
	t.Helper()
	c, err := orchestratorapi.NewClient(b.node.URL(platform.Orchestrator), creds{tenant: tenant})
	require.NoError(t, err)
	builtin := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)
	in := &orchestratorapi.AgentInput{Model: "builtin-chat"}
	for _, name := range tools {
		in.Tools = append(in.Tools, orchestratorapi.Tool{Name: name, Type: builtin})
	}
	_, err = c.PutAgent(b.ctx, in, orchestratorapi.PutAgentParams{AgentID: "fetcher"})
	require.NoError(t, err)
	return func(input string) string {
		t.Helper()
		res, err := c.CreateRun(b.ctx, &orchestratorapi.RunInput{Input: input}, orchestratorapi.CreateRunParams{AgentID: "fetcher"})
		require.NoError(t, err)
		run, err := c.WaitRun(b.ctx, orchestratorapi.WaitRunParams{RunID: res.Response.RunID, Timeout: orchestratorapi.NewOptString("30s")})
		require.NoError(t, err)
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "a tool's refusal does not fail the run: %+v", run.Error)
		return run.Output.Or("")
	}
}

func fetchCue(url string) string { return fmt.Sprintf(`/tool http_fetch {"url": %q}`, url) }

// http_fetch end to end: the builtin model calls it on cue, Model Policy decides the
// URL and every redirect, and the worker keeps the decision's limits.
func TestHTTPFetchAllowedByPolicy(t *testing.T) {
	t.Parallel()
	b := setupFetch(t)
	run := b.agent(t, "tnt_demo", "http_fetch", "calculator")
	base := "http://127.0.0.1:" + b.port

	out := run(fetchCue(base + "/page"))
	require.Contains(t, out, "status: 200 OK")
	require.Contains(t, out, "content-type: text/plain; charset=utf-8")
	require.Contains(t, out, "hello from the test server")

	out = run(fetchCue(base + "/big"))
	require.Contains(t, out, "truncated: the body is longer than the policy's limit of 64 bytes")
	require.Contains(t, out, strings.Repeat("é", 32))
	require.NotContains(t, out, strings.Repeat("é", 33))

	out = run(fetchCue(base + "/binary"))
	require.Contains(t, out, "content-type: image/png")
	require.Contains(t, out, "7 bytes of non-text content, not shown")

	out = run(fmt.Sprintf(`/tool http_fetch {"url": %q, "method": "HEAD"}`, base+"/page"))
	require.Contains(t, out, "status: 200 OK")
	require.NotContains(t, out, "hello")

	out = run(fetchCue(base + "/redirect"))
	require.Contains(t, out, "(after 1 redirects)")
	require.Contains(t, out, "hello from the test server")

	out = run(fetchCue(base + "/loop"))
	require.Contains(t, out, "error: http_fetch: stopped after 5 redirects")

	// A redirect's target is put to the policy again: localhost is not on the list.
	hits := b.hits.Load()
	out = run(fetchCue(base + "/away"))
	require.Contains(t, out, "error: http_fetch: redirect from "+base+"/away refused: policy denied tool http_fetch: host \"localhost\" is not allowed for http_fetch")
	require.Equal(t, hits+1, b.hits.Load(), "the redirect target was never requested")

	// A host not on the allowlist is refused by policy before any request.
	out = run(fetchCue("http://localhost:" + b.port + "/page"))
	require.Equal(t, `The tool returned: error: policy denied tool http_fetch: host "localhost" is not allowed for http_fetch for tenant "tnt_demo"`, out)
	require.Equal(t, hits+1, b.hits.Load())

	// Arguments are validated before the policy is asked.
	out = run(fmt.Sprintf(`/tool http_fetch {"url": %q, "method": "POST"}`, base+"/page"))
	require.Contains(t, out, `error: arguments of "http_fetch" do not match its parameters`)
	out = run(fmt.Sprintf(`/tool http_fetch {"url": %q, "headers": {"Host": "internal"}}`, base+"/page"))
	require.Contains(t, out, `error: http_fetch: header "Host" cannot be set`)

	// Every tool call is decided, not just http_fetch: a rule on the agent denies the
	// calculator, and the run completes with the refusal as the tool's result.
	out = run(`/tool calculator {"expression": "6 * 7"}`)
	require.Equal(t, `The tool returned: error: policy denied tool calculator: the calculator is off for agent fetcher`, out)
}

// Without internal targets allowed, the SSRF guard refuses loopback, private and
// link-local addresses, also behind a hostname, even on a policy that allows every
// host; the refusal is the tool's result and the run completes.
func TestHTTPFetchRefusesInternalTargets(t *testing.T) {
	t.Parallel()
	b := setupFetch(t)
	run := b.agent(t, "strict", "http_fetch")
	for _, u := range []string{
		"http://127.0.0.1:" + b.port + "/page",
		"http://10.1.2.3/",
		"http://169.254.169.254/latest/meta-data/",
		"http://localhost:" + b.port + "/page",
		"http://[::1]:" + b.port + "/page",
	} {
		out := run(fetchCue(u))
		require.Contains(t, out, "error: http_fetch refused "+u+": it resolves to an internal address", u)
	}
	require.Zero(t, b.hits.Load(), "no request reached the internal server")

	out := run(fetchCue("ftp://example.com/file"))
	require.Equal(t, `The tool returned: error: policy denied tool http_fetch: http_fetch needs an http or https URL, not "ftp://example.com/file"`, out)
}
