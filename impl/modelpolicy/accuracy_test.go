package modelpolicy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// TestQuotaAccuracyAcrossProcesses: two gateway processes on one PostgreSQL database,
// one tenant limited to 600 tokens per minute, concurrent streaming load on both; the
// tokens of the accepted calls stay within 5% of the limit.
func TestQuotaAccuracyAcrossProcesses(t *testing.T) {
	t.Parallel()
	if os.Getenv(dbtest.EnvDatabaseURL) == "" {
		t.Skipf("%s is not set: the two-process quota test needs PostgreSQL", dbtest.EnvDatabaseURL)
	}
	const limit = 600
	ctx := context.Background()
	url := dbtest.URL(t)
	d, err := db.Open(ctx, url, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	require.NoError(t, d.Migrate(ctx))
	tenantID := "tnt_quota"
	l := int64(limit)
	_, _, err = tenant.Put(ctx, d.DB, tenant.Tenant{ID: tenantID, Quotas: tenant.Quotas{TokensPerMinute: &l}}, time.Now())
	require.NoError(t, err)

	// Every answer: 2 prompt + 8 completion tokens, streamed word by word, usage reported.
	up := upstreamtest.New(upstreamtest.Behavior{Words: 8, PromptTokens: 2, ChunkDelay: 2 * time.Millisecond}, false)
	t.Cleanup(up.Close)
	pf := filepath.Join(t.TempDir(), "providers.yaml")
	require.NoError(t, os.WriteFile(pf, []byte(fmt.Sprintf(`
providers: [{name: up, type: openai, base_url: %q}]
models: [{name: m, type: chat, deployments: [{provider: up}]}]
`, up.BaseURL())), 0o644))

	// Run the load inside one quota window (windows are whole minutes).
	if s := time.Now().Second(); s > 40 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	gateways := []string{startGatewayProcess(t, url, pf), startGatewayProcess(t, url, pf)}

	var accepted, refused, failed atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(8 * time.Second)
	for i := range 16 {
		wg.Go(func() {
			c := openai.NewClient(option.WithBaseURL(gateways[i%2]+"/v1/"), option.WithHeader("X-Tenant-Id", tenantID),
				option.WithAPIKey("x"), option.WithMaxRetries(0))
			for time.Now().Before(deadline) {
				s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
					Model: "m", MaxTokens: openai.Int(8),
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("count the tokens please")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
				})
				var usage int64
				for s.Next() {
					if u := s.Current().Usage.TotalTokens; u > 0 {
						usage = u
					}
				}
				var apiErr *openai.Error
				switch err := s.Err(); {
				case err == nil:
					accepted.Add(usage)
				case errors.As(err, &apiErr) && apiErr.StatusCode == 429:
					refused.Add(1)
					time.Sleep(20 * time.Millisecond)
				default:
					failed.Add(1)
					t.Errorf("stream failed: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("accepted %d tokens (limit %d), %d calls refused", accepted.Load(), limit, refused.Load())
	require.Zero(t, failed.Load())
	require.Positive(t, refused.Load(), "the load went past the limit")
	require.InDelta(t, limit, accepted.Load(), limit*0.05, "accepted tokens within 5%% of the limit")
	require.LessOrEqual(t, accepted.Load(), int64(limit), "reservations cover the actual usage here, so the limit holds exactly")

	// The metered usage matches what the clients were told.
	api, err := modelpolicyapi.NewClient(gateways[0], creds{tenant: tenantID})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		rep, err := api.GetUsage(ctx, modelpolicyapi.GetUsageParams{})
		return err == nil && rep.Totals.TotalTokens == accepted.Load() && rep.Totals.EstimatedRequests == 0
	}, 5*time.Second, 50*time.Millisecond)
}
