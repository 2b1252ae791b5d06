package modelpolicy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/internal/tenant"
)

// fetchPolicy lets every tenant call memory_* and http_fetch; http_fetch may reach
// example.com and *.example.org, with a 2 KiB body limit. Tenant "tnt_internal" may
// also reach 127.0.0.1, internal addresses allowed.
const fetchPolicy = `{"agentos":{"model_settings":{
  "defaults":{"models":["builtin-*"],"tools":["memory_*","http_fetch"],"max_tokens":64,"http_hosts":["example.com","*.example.org"],"http_max_bytes":2048},
  "tenants":{"tnt_internal":{"http_hosts":["127.0.0.1"],"http_allow_internal":true,"http_timeout_ms":500}}}}}`

func TestAuthorizeToolCall(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{policyData: fetchPolicy})
	c := b.client(t, creds{tenant: b.tenant})
	ctx := context.Background()
	fetch := func(u string) *modelpolicyapi.ToolCallAuthorization {
		return &modelpolicyapi.ToolCallAuthorization{
			Tool: "http_fetch", Type: modelpolicyapi.ToolCallAuthorizationTypeBuiltin, URL: modelpolicyapi.NewOptString(u),
			RunID: modelpolicyapi.NewOptString("run_1"), AgentID: modelpolicyapi.NewOptString("fetcher"),
		}
	}

	t.Run("an allowed tool has no obligations", func(t *testing.T) {
		d, err := c.AuthorizeToolCall(ctx, &modelpolicyapi.ToolCallAuthorization{Tool: "memory_get", Type: modelpolicyapi.ToolCallAuthorizationTypeBuiltin})
		require.NoError(t, err)
		require.True(t, d.Allow)
		require.Empty(t, d.Reasons)
		require.Empty(t, d.Obligations)
		require.NotEmpty(t, d.PolicyRevision)
		require.JSONEq(t, `"tool.call"`, string(d.Input["operation"]))
		require.JSONEq(t, `["memory_get"]`, string(d.Input["tools"]))
	})

	t.Run("an allowed fetch carries its limits", func(t *testing.T) {
		d, err := c.AuthorizeToolCall(ctx, fetch("HTTPS://Api.Example.ORG./v1?q=1"))
		require.NoError(t, err)
		require.True(t, d.Allow)
		require.JSONEq(t, "false", string(d.Obligations["allow_internal"]))
		require.JSONEq(t, "2048", string(d.Obligations["max_bytes"]))
		require.JSONEq(t, "10000", string(d.Obligations["timeout_ms"]))
		require.JSONEq(t, `{"name":"http_fetch","type":"builtin","server":"","url":"HTTPS://Api.Example.ORG./v1?q=1","scheme":"https","host":"api.example.org","port":443}`,
			string(d.Input["tool"]), "the host is parsed, lower-cased and loses its trailing dot")
		require.JSONEq(t, `"run_1"`, string(d.Input["run_id"]))
	})

	t.Run("a deny is a 403 problem with every reason", func(t *testing.T) {
		for u, reason := range map[string]string{
			"https://evil.test/":          `host "evil.test" is not allowed for http_fetch`,
			"http://127.0.0.1:8080/":      `host "127.0.0.1" is not allowed for http_fetch`,
			"http://169.254.169.254/":     `host "169.254.169.254" is not allowed for http_fetch`,
			"file:///etc/passwd":          `http_fetch needs an http or https URL`,
			"not a url":                   `http_fetch needs an http or https URL`,
			"https://a.b.example.org/":    `host "a.b.example.org" is not allowed`,
			"https://example.com.evil.x/": `host "example.com.evil.x" is not allowed`,
		} {
			resp, body := b.post(t, "/v1/tools:authorize", fmt.Sprintf(`{"tool":"http_fetch","type":"builtin","url":%q}`, u))
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", u, body)
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			var p struct {
				Code   string
				Errors []struct{ Field, Reason string }
				Error  struct{ Message string }
			}
			require.NoError(t, json.Unmarshal(body, &p))
			require.Equal(t, "permission_denied", p.Code)
			require.NotEmpty(t, p.Errors, u)
			require.Contains(t, p.Errors[0].Reason, reason, u)
			require.Contains(t, p.Error.Message, reason, u)
		}
		_, err := c.AuthorizeToolCall(ctx, &modelpolicyapi.ToolCallAuthorization{Tool: "shell", Type: modelpolicyapi.ToolCallAuthorizationTypeFunction})
		var pe *modelpolicyapi.ProblemStatusCode
		require.ErrorAs(t, err, &pe)
		require.Equal(t, http.StatusForbidden, pe.StatusCode)
		require.Equal(t, `tool "shell" is not allowed for tenant "`+b.tenant+`"`, pe.Response.Errors[0].Reason)
	})

	t.Run("per-tenant settings", func(t *testing.T) {
		require.NoError(t, tenant.EnsureDefault(ctx, b.db.DB, "tnt_internal", time.Now()))
		other := b.client(t, creds{tenant: "tnt_internal"})
		d, err := other.AuthorizeToolCall(ctx, fetch("http://127.0.0.1:8080/"))
		require.NoError(t, err)
		require.JSONEq(t, "true", string(d.Obligations["allow_internal"]))
		require.JSONEq(t, "2048", string(d.Obligations["max_bytes"]), "the defaults' limit")
		require.JSONEq(t, "500", string(d.Obligations["timeout_ms"]))
		_, err = other.AuthorizeToolCall(ctx, fetch("https://example.com/"))
		var pe *modelpolicyapi.ProblemStatusCode
		require.ErrorAs(t, err, &pe, "the tenant's hosts replace the defaults")
		require.Equal(t, http.StatusForbidden, pe.StatusCode)

		_, err = b.client(t, creds{tenant: "tnt_ghost"}).AuthorizeToolCall(ctx, fetch("https://example.com/"))
		require.ErrorAs(t, err, &pe)
		require.Equal(t, http.StatusNotFound, pe.StatusCode, "an unknown tenant")
		require.Equal(t, "tenant_not_found", pe.Response.Code)
	})

	t.Run("bad input is a 4xx problem", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"tool":"x"}`, `{"tool":"","type":"builtin"}`, `{"tool":"x","type":"shell"}`, `{"tool":"x","type":"builtin","extra":1}`, `{"tool":1,"type":"builtin"}`} {
			resp, out := b.post(t, "/v1/tools:authorize", body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", body, out)
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		}
		req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/tools:authorize", strings.NewReader(`{"tool":"x","type":"builtin"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a tenant credential is required")
	})

	t.Run("every decision is audited with the policy revision", func(t *testing.T) {
		type row struct {
			Action   string `bun:"action"`
			Outcome  string `bun:"outcome"`
			Resource string `bun:"resource"`
			Detail   string `bun:"detail"`
		}
		var rows []row
		require.Eventually(t, func() bool {
			rows = nil
			err := b.db.DB.NewRaw("SELECT action, outcome, resource, detail FROM audit_records WHERE tenant_id = ? AND action = 'tool.authorize' ORDER BY seq", b.tenant).Scan(ctx, &rows)
			return err == nil && len(rows) >= 10
		}, 5*time.Second, 20*time.Millisecond)
		outcomes := map[string]int{}
		for _, r := range rows {
			outcomes[r.Outcome]++
			var d map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.Detail), &d))
			require.Len(t, d["policy_revision"], 16, r.Detail)
			require.Equal(t, "tool.call", d["operation"])
			if r.Resource == "tools/http_fetch" && r.Outcome == "success" {
				require.Equal(t, "api.example.org", d["host"])
				require.Equal(t, "run_1", d["run_id"])
				require.NotNil(t, d["obligations"])
			}
			if r.Outcome == "denied" {
				require.NotEmpty(t, d["reasons"])
			}
		}
		require.Equal(t, 2, outcomes["success"])
		require.Equal(t, 8, outcomes["denied"])
	})

	t.Run("decisions are counted by operation", func(t *testing.T) {
		resp, err := http.Get(b.srv.URL + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		m, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Contains(t, string(m), `agentos_policy_decisions_total{operation="tool.call",result="allow"} 3`)
		require.Contains(t, string(m), `agentos_policy_decisions_total{operation="tool.call",result="deny"} 9`)
	})
}
