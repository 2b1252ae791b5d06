package modelpolicy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
)

// restrictedPolicy lets every tenant use builtin-* and up-chat with tools memory_*, and
// caps max_tokens at 64.
const restrictedPolicy = `{"agentos":{"model_settings":{"defaults":{"models":["builtin-*","up-chat"],"tools":["memory_*"],"max_tokens":64},"tenants":{}}}}`

type creds struct{ tenant, token, admin string }

func (c creds) TenantHeader(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.TenantHeader, error) {
	if c.tenant == "" {
		return modelpolicyapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.TenantHeader{APIKey: c.tenant}, nil
}

func (c creds) BearerAuth(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.BearerAuth, error) {
	if c.token == "" {
		return modelpolicyapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.BearerAuth{Token: c.token}, nil
}

func (c creds) AdminToken(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.AdminToken, error) {
	if c.admin == "" {
		return modelpolicyapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.AdminToken{Token: c.admin}, nil
}

func (b *testBundle) client(t *testing.T, c creds) *modelpolicyapi.Client {
	t.Helper()
	cl, err := modelpolicyapi.NewClient(b.srv.URL, c)
	require.NoError(t, err)
	return cl
}

func TestPolicyDenyIsA403WithReasons(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{policyData: restrictedPolicy})
	resp, body := b.post(t, "/v1/chat/completions", `{"model":"up-embedding","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a chat call on an embedding model: %s", body)

	resp, body = b.post(t, "/v1/chat/completions", `{"model":"up-chat","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"http_fetch"}},{"type":"function","function":{"name":"shell"}}]}`)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, string(body))
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Errors []struct{ Field, Reason string }
		Error  struct{ Message, Type string }
	}
	require.NoError(t, json.Unmarshal(body, &p))
	require.Equal(t, "permission_denied", p.Code)
	require.Len(t, p.Errors, 2)
	require.Equal(t, "policy", p.Errors[0].Field)
	require.Contains(t, p.Errors[0].Reason, `tool "http_fetch" is not allowed`)
	require.Contains(t, p.Errors[1].Reason, `tool "shell" is not allowed`)
	require.Contains(t, p.Error.Message, "http_fetch")
	require.EqualValues(t, 0, b.up.Count(), "a denied call never reaches the upstream")

	// The OpenAI SDK sees the same.
	oc := b.openai()
	_, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "up-embedding", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr))

	// GET /v1/models lists only what the policy allows.
	page, err := oc.Models.List(context.Background())
	require.NoError(t, err)
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	require.Equal(t, []string{"builtin-chat", "builtin-embedding", "up-chat"}, ids)
}

func TestMaxTokensObligationIsForwarded(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{policyData: restrictedPolicy})
	for body, want := range map[string]map[string]string{
		`{"model":"up-chat","messages":[{"role":"user","content":"x"}]}`:                                        {"max_tokens": "64"},
		`{"model":"up-chat","max_tokens":1000,"messages":[{"role":"user","content":"x"}]}`:                      {"max_tokens": "64"},
		`{"model":"up-chat","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`:                        {"max_tokens": "10"},
		`{"model":"up-chat","max_completion_tokens":500,"messages":[{"role":"user","content":"x"}]}`:            {"max_completion_tokens": "64", "max_tokens": ""},
		`{"model":"up-chat","max_tokens":null,"stream":true,"messages":[{"role":"user","content":"x"}]}`:        {"max_tokens": "64", "stream_options": `{"include_usage":true}`},
		`{"model":"up-chat","stream":true,"stream_options":{"x":1},"messages":[{"role":"user","content":"x"}]}`: {"stream_options": `{"x":1,"include_usage":true}`},
	} {
		resp, out := b.post(t, "/v1/chat/completions", body)
		require.Equal(t, 200, resp.StatusCode, string(out))
		last, _ := b.up.Last()
		var sent map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(last.Body, &sent))
		for k, v := range want {
			require.Equal(t, v, string(sent[k]), "%s: %s", body, k)
		}
	}
}

func TestBrokenPolicyReloadKeepsTheOldOne(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{policyData: restrictedPolicy})
	admin := b.client(t, creds{admin: b.admin})
	ctx := context.Background()
	st, err := admin.GetPolicyStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, b.policy, st.Source)
	first := st.Revision

	require.NoError(t, os.WriteFile(filepath.Join(b.policy, "broken.rego"), []byte("package agentos.model\ndecision := {"), 0o644))
	require.Eventually(t, func() bool {
		st, err = admin.GetPolicyStatus(ctx)
		return err == nil && st.LastError.Set
	}, 5*time.Second, 20*time.Millisecond)
	require.Contains(t, st.LastError.Value, "broken.rego")
	require.Equal(t, first, st.Revision, "the previous policy keeps serving")
	resp, body := b.post(t, "/v1/chat/completions", `{"model":"up-embedding","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, 400, resp.StatusCode, string(body))
	resp, body = b.post(t, "/v1/chat/completions", `{"model":"builtin-chat","max_tokens":1000,"messages":[{"role":"user","content":"one two three"}]}`)
	require.Equal(t, 200, resp.StatusCode, string(body))

	// A good edit is picked up.
	require.NoError(t, os.Remove(filepath.Join(b.policy, "broken.rego")))
	require.NoError(t, os.WriteFile(filepath.Join(b.policy, "data.json"), []byte(`{"agentos":{"model_settings":{"defaults":{"models":["builtin-*"],"tools":[],"max_tokens":0}}}}`), 0o644))
	require.Eventually(t, func() bool {
		st, err = admin.GetPolicyStatus(ctx)
		return err == nil && st.Revision != first && !st.LastError.Set
	}, 5*time.Second, 20*time.Millisecond)
	resp, _ = b.post(t, "/v1/chat/completions", `{"model":"up-chat","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, 403, resp.StatusCode, "up-chat is no longer allowed")
}

func TestEvaluatePolicyDryRun(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{policyData: restrictedPolicy})
	c := b.client(t, creds{tenant: b.tenant})
	ctx := context.Background()
	d, err := c.EvaluatePolicy(ctx, &modelpolicyapi.PolicyEvaluation{
		Operation: modelpolicyapi.PolicyEvaluationOperationChatCompletions,
		Model:     modelpolicyapi.NewOptString("up-chat"),
		Tools:     []string{"memory_get", "shell"},
	})
	require.NoError(t, err)
	require.False(t, d.Allow)
	require.Equal(t, []string{`tool "shell" is not allowed for tenant "` + b.tenant + `"`}, d.Reasons)
	require.JSONEq(t, "64", string(d.Obligations["max_tokens"]))
	require.JSONEq(t, `"up-chat"`, string(d.Input["model"]))
	require.NotEmpty(t, d.PolicyRevision)
	require.EqualValues(t, 0, b.up.Count())

	_, err = c.EvaluatePolicy(ctx, &modelpolicyapi.PolicyEvaluation{Operation: "nope"})
	require.Error(t, err)
}
