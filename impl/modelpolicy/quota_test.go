package modelpolicy_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/tenant"
)

func TestInvokeQPSQuota(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, setupOpts{d: d, qps: 3})
		var codes []int
		var retry string
		// Calls in quick succession until one is refused: at most 3 fit in one second, so
		// the fourth in a second is; on a loaded machine a second boundary may pass
		// first, which only takes more calls (up to 40: a second would have to pass every
		// three calls for none to be refused).
		for len(codes) < 40 && retry == "" {
			resp, body := b.post(t, "/v1/chat/completions", `{"model":"builtin-chat","messages":[{"role":"user","content":"x"}]}`)
			codes = append(codes, resp.StatusCode)
			if resp.StatusCode == http.StatusTooManyRequests {
				retry = resp.Header.Get("Retry-After")
				require.Contains(t, string(body), `"code":"rate_limited"`)
				require.Contains(t, string(body), "invocation rate limit of 3 per second")
			}
		}
		require.Contains(t, codes, http.StatusTooManyRequests, "%v", codes)
		require.Equal(t, 200, codes[0])
		n, err := strconv.Atoi(retry)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func TestTenantQuotaOverride(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, setupOpts{d: d, tpm: 1_000_000})
		ctx := context.Background()
		limit := int64(30)
		tn, err := tenant.Get(ctx, b.db.DB, b.tenant)
		require.NoError(t, err)
		tn.Quotas.TokensPerMinute = &limit
		_, _, err = tenant.Put(ctx, b.db.DB, tn, time.Now())
		require.NoError(t, err)
		time.Sleep(2100 * time.Millisecond) // the tenant cache's ttl

		c := b.openai()
		_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "builtin-chat", MaxTokens: openai.Int(100),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		require.NoError(t, err, "a reservation above the limit is cut to the limit when the window is empty")
		_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "builtin-chat", MaxTokens: openai.Int(20),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		}, option.WithMaxRetries(0))
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr), "%v", err)
		require.Equal(t, 429, apiErr.StatusCode)
		require.Equal(t, "rate_limited", apiErr.Type)
		ra, err := strconv.Atoi(apiErr.Response.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.True(t, ra >= 1 && ra <= 60, "Retry-After %d is the rest of the minute", ra)
	})
}

func TestUsageIsRecordedAndReported(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, setupOpts{d: d})
		ctx := context.Background()
		c := b.openai()
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "builtin-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three")},
		})
		require.NoError(t, err)
		// A stream whose upstream reports no usage is estimated, never zero.
		b.up.SetDefault(upstreamtest.Behavior{NoUsage: true, Words: 12})
		s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: "up-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		for s.Next() {
		}
		require.NoError(t, s.Err())
		_, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "builtin-embedding", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a b c")}})
		require.NoError(t, err)

		api := b.client(t, creds{tenant: b.tenant})
		var rep *modelpolicyapi.UsageReport
		require.Eventually(t, func() bool {
			rep, err = api.GetUsage(ctx, modelpolicyapi.GetUsageParams{Window: modelpolicyapi.NewOptGetUsageWindow(modelpolicyapi.GetUsageWindowMinute)})
			return err == nil && rep.Totals.Requests == 3
		}, 3*time.Second, 20*time.Millisecond)
		byModel := map[string]modelpolicyapi.UsageBucket{}
		for _, bk := range rep.Buckets {
			byModel[bk.Model] = bk
			require.Equal(t, "anonymous", bk.Principal)
		}
		require.EqualValues(t, 5, byModel["builtin-chat"].CompletionTokens, "You said: one two three")
		require.False(t, byModel["builtin-chat"].Estimated)
		up := byModel["up-chat"]
		require.True(t, up.Estimated)
		require.EqualValues(t, 1, up.EstimatedRequests)
		require.Positive(t, up.CompletionTokens, "estimated from the relayed text")
		require.Positive(t, up.PromptTokens)
		require.EqualValues(t, 3, byModel["builtin-embedding"].PromptTokens)

		// Another tenant sees none of it.
		other := "tnt_other_" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
		require.NoError(t, tenant.EnsureDefault(ctx, b.db.DB, other, time.Now()))
		rep, err = b.client(t, creds{tenant: other}).GetUsage(ctx, modelpolicyapi.GetUsageParams{})
		require.NoError(t, err)
		require.Empty(t, rep.Buckets)

		_, err = api.GetUsage(ctx, modelpolicyapi.GetUsageParams{
			Since: modelpolicyapi.NewOptDateTime(time.Now()), Until: modelpolicyapi.NewOptDateTime(time.Now().Add(-time.Hour)),
		})
		require.Error(t, err)
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, setupOpts{d: d})
		ctx := context.Background()
		admin := b.client(t, creds{admin: b.admin})
		created, err := admin.CreateApiKey(ctx, &modelpolicyapi.ApiKeyInput{Name: "ci", PrincipalID: modelpolicyapi.NewOptString("ci-bot")},
			modelpolicyapi.CreateApiKeyParams{TenantID: modelpolicyapi.TenantId(b.tenant)})
		require.NoError(t, err)
		require.Contains(t, created.Key, "sk-agentos-")

		// An OpenAI client with just the key (no X-Tenant-Id).
		c := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey(created.Key), option.WithMaxRetries(0))
		_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "builtin-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		require.NoError(t, err)
		api := b.client(t, creds{token: created.Key})
		require.Eventually(t, func() bool {
			rep, err := api.GetUsage(ctx, modelpolicyapi.GetUsageParams{})
			return err == nil && len(rep.Buckets) == 1 && rep.Buckets[0].Principal == "ci-bot"
		}, 3*time.Second, 20*time.Millisecond, "calls run as the key's principal in its tenant")

		list, err := admin.ListApiKeys(ctx, modelpolicyapi.ListApiKeysParams{TenantID: modelpolicyapi.TenantId(b.tenant)})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)
		require.NotContains(t, list.Items[0].Display, created.Key[15:])

		// Revoked: 401 at once on this node.
		require.NoError(t, admin.DeleteApiKey(ctx, modelpolicyapi.DeleteApiKeyParams{TenantID: modelpolicyapi.TenantId(b.tenant), KeyID: created.ID}))
		_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "builtin-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		var apiErr *openai.Error
		require.True(t, errors.As(err, &apiErr))
		require.Equal(t, 401, apiErr.StatusCode)

		// Unknown key, another tenant's key id, unknown tenant; a tenant credential is not admin.
		err = admin.DeleteApiKey(ctx, modelpolicyapi.DeleteApiKeyParams{TenantID: modelpolicyapi.TenantId(b.tenant), KeyID: created.ID})
		requireProblem(t, err, 404, "not_found")
		_, err = admin.ListApiKeys(ctx, modelpolicyapi.ListApiKeysParams{TenantID: "tnt_never"})
		requireProblem(t, err, 404, "tenant_not_found")
		_, err = b.client(t, creds{tenant: b.tenant, admin: created.Key}).ListApiKeys(ctx, modelpolicyapi.ListApiKeysParams{TenantID: modelpolicyapi.TenantId(b.tenant)})
		requireProblem(t, err, 401, "unauthenticated")
	})
}

func requireProblem(t *testing.T, err error, status int, code string) {
	t.Helper()
	var p *modelpolicyapi.ProblemStatusCode
	require.True(t, errors.As(err, &p), "%v", err)
	require.Equal(t, status, p.StatusCode)
	require.Equal(t, code, p.Response.Code)
	require.True(t, p.Response.Error.Set, "the problem carries an OpenAI error object")
}
