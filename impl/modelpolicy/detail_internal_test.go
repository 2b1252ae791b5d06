package modelpolicy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/policyeval"
)

// mapDetail is a call's detail as the gateway built it before callDetail: a map, filled
// at the same points under the same conditions.
func mapDetail(c *call) map[string]any {
	d := c.detail
	m := map[string]any{"model": c.model}
	if d.runID != "" {
		m["run_id"] = d.runID
	}
	if d.decided {
		m["policy_revision"] = c.decision.Revision
		m["decision"] = decisionWord(c.decision.Allow)
		if !c.decision.Allow {
			m["reasons"] = c.decision.Reasons
		} else if len(c.decision.Obligations) > 0 {
			m["obligations"] = c.decision.Obligations
		}
	}
	if d.hasQuota {
		m["quota"] = d.quota
	}
	if d.stream {
		m["stream"] = true
	}
	if d.maxTokens > 0 {
		m["max_tokens"] = d.maxTokens
	}
	if d.hasErr {
		m["error"] = d.errMsg
	}
	if d.hasStat {
		m["status"] = d.status
	}
	if d.served {
		m["deployment"] = d.deployment
		m["attempts"] = d.attempts
		if d.fallbackModel != "" {
			m["fallback_model"] = d.fallbackModel
		}
		m["prompt_tokens"] = d.usage.PromptTokens
		m["completion_tokens"] = d.usage.CompletionTokens
		m["total_tokens"] = d.usage.TotalTokens
		if d.usageEstimated {
			m["usage_estimated"] = true
		}
	}
	return m
}

func TestCallDetailEncodesAsTheMapDid(t *testing.T) {
	t.Parallel()
	allow := policyeval.Decision{Allow: true, Revision: "0123456789abcdef", Obligations: map[string]any{"max_tokens": json.Number("256"), "note": "<x>"}}
	deny := policyeval.Decision{Reasons: []string{"model m is not allowed", "tool <t> & co"}, Revision: "r2"}
	cases := []*call{
		{model: "unknown-model", detail: callDetail{hasErr: true, errMsg: `model "unknown-model" not found`, hasStat: true, status: 404}},
		{model: "up-chat", decision: deny, detail: callDetail{decided: true, runID: "run_1", hasErr: true, errMsg: "denied by policy: …", hasStat: true, status: 403}},
		{model: "up-chat", decision: policyeval.Decision{Revision: "r3"}, detail: callDetail{decided: true}},
		{model: "up-chat", decision: allow, detail: callDetail{decided: true, hasQuota: true, quota: "tokens_per_minute", hasErr: true, errMsg: "quota", hasStat: true, status: 429}},
		{model: "up-chat", decision: policyeval.Decision{Allow: true, Revision: "r"}, detail: callDetail{decided: true, stream: true, maxTokens: 4096,
			served: true, deployment: "up/upstream-model", attempts: 2, fallbackModel: "builtin-chat",
			usage: provider.Usage{PromptTokens: 12, CompletionTokens: 30, TotalTokens: 42}, usageEstimated: true}},
		{model: "up-chat", decision: allow, detail: callDetail{decided: true, maxTokens: 256, served: true, deployment: "up/m", attempts: 1,
			usage: provider.Usage{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2}}},
		{model: "bad\xffmodel", decision: allow, detail: callDetail{decided: true, hasErr: true, errMsg: "upstream: \xc3", hasStat: true, status: 502}},
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	sink, err := audit.ParseSink("file:" + path)
	require.NoError(t, err)
	at := time.Date(2026, 3, 1, 11, 0, 0, 123456000, time.UTC)
	for _, c := range cases {
		base := audit.Record{TenantID: "tnt_a", Seq: 3, Time: at, Principal: "dev", Action: "model.chat.completions",
			Resource: "models/" + c.model, Outcome: audit.OutcomeSuccess, RequestID: "req_1", PrevHash: "p"}
		byMap, byCall := base, base
		byMap.Detail = mapDetail(c)
		byCall.Encoded = c.encodeDetail()
		require.Equal(t, byMap.ComputeHash(), byCall.ComputeHash(), "%+v", c.detail)
		require.NoError(t, sink.Write(byMap))
		require.NoError(t, sink.Write(byCall))
	}
	require.NoError(t, sink.Close())
	out, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, 2*len(cases))
	for i := 0; i < len(lines); i += 2 {
		require.Equal(t, lines[i], lines[i+1], "the sink's line is the map's")
	}
}
