package modelpolicy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
)

// twoDeployments serves "up-chat" from two deployments on two test upstreams: the first
// on the bundle's upstream, the second on another one.
func twoDeployments(t *testing.T) (*testBundle, *upstreamtest.Server) {
	t.Helper()
	second := upstreamtest.New(upstreamtest.Behavior{}, true)
	t.Cleanup(second.Close)
	providers := `
providers:
  - {name: up, type: openai, base_url: "%s"}
  - {name: up2, type: openai, base_url: "` + second.BaseURL() + `"}
defaults: {timeout: 300ms, first_byte_timeout: 300ms, idle_timeout: 300ms, backoff: 1ms, max_backoff: 5ms, breaker_failures: 100}
models:
  - name: up-chat
    type: chat
    routing: least_busy
    deployments: [{provider: up, model: m}, {provider: up2, model: m}]
`
	return setup(t, setupOpts{providers: providers}), second
}

func TestGatewayFailsOverNonStreaming(t *testing.T) {
	t.Parallel()
	for name, bad := range map[string]upstreamtest.Behavior{
		"503":  {Status: 503},
		"hang": {Hang: true},
		"drop": {Drop: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, second := twoDeployments(t)
			b.up.SetDefault(bad)
			second.SetDefault(bad)
			second.Then(upstreamtest.Behavior{Words: 3})
			b.up.Then(bad)
			c := b.openai()
			resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "up-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
			})
			require.NoError(t, err)
			require.Equal(t, "w1 w2 w3", resp.Choices[0].Message.Content)
			require.GreaterOrEqual(t, b.up.Count(), int64(1), "the failing deployment was tried")

			// Both failing: a clean 5xx problem the SDK reads.
			_, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "up-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
			})
			var apiErr *openai.Error
			require.True(t, errors.As(err, &apiErr), "%v", err)
			require.Contains(t, []int{http.StatusBadGateway, http.StatusGatewayTimeout}, apiErr.StatusCode)
			require.NotEmpty(t, apiErr.Message)
		})
	}
}

func TestGatewayStreamFailsOverBeforeTheFirstChunk(t *testing.T) {
	t.Parallel()
	b, second := twoDeployments(t)
	b.up.SetDefault(upstreamtest.Behavior{Latency: 2 * time.Second}) // past the first-byte timeout
	second.SetDefault(upstreamtest.Behavior{Latency: 2 * time.Second})
	second.Then(upstreamtest.Behavior{Words: 4})
	b.up.Then(upstreamtest.Behavior{Latency: 2 * time.Second})
	c := b.openai()
	s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "up-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	acc := openai.ChatCompletionAccumulator{}
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	require.NoError(t, s.Err())
	require.Equal(t, "w1 w2 w3 w4", acc.Choices[0].Message.Content)
}

func TestGatewayStreamBreaksWithACleanError(t *testing.T) {
	t.Parallel()
	for name, bad := range map[string]upstreamtest.Behavior{
		"drop": {Words: 6, DropAfterChunks: 2},
		"idle": {Words: 3, ChunkDelay: 2 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{upstream: bad})
			c := b.openai()
			s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: "up-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
			})
			n := 0
			for s.Next() {
				n++
			}
			require.GreaterOrEqual(t, n, 1, "the chunks before the break were relayed")
			var se *ssestream.StreamError
			require.True(t, errors.As(s.Err(), &se), "%v", s.Err())
			require.Contains(t, se.Message, "upstream_")
			require.EqualValues(t, 1, b.up.Count(), "a relayed stream is not retried")

			// Raw: the error event ends the stream, no [DONE].
			resp, body := b.post(t, "/v1/chat/completions", `{"model":"up-chat","stream":true,"messages":[{"role":"user","content":"x"}]}`)
			require.Equal(t, 200, resp.StatusCode)
			require.True(t, strings.HasSuffix(string(body), "\n\n"))
			require.Contains(t, string(body), `data: {"error":`)
			require.NotContains(t, string(body), "[DONE]")
			require.Eventually(t, func() bool {
				return strings.Contains(scrape(t, b), `agentos_model_upstream_errors_total{deployment="up/upstream-model",kind="stream_broken",provider="up"}`)
			}, 2*time.Second, 10*time.Millisecond)
		})
	}
}

func scrape(t *testing.T, b *testBundle) string {
	t.Helper()
	resp, err := http.Get(b.srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}

func TestGatewayMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	resp, _ := b.post(t, "/v1/chat/completions", `{"model":"up-chat","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = b.post(t, "/v1/chat/completions", `{"model":"up-chat","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, 200, resp.StatusCode)
	m := scrape(t, b)
	for _, want := range []string{
		`agentos_model_upstream_attempts_total{deployment="up/upstream-model",model="up-chat",outcome="ok",provider="up"} 2`,
		`agentos_model_upstream_duration_seconds_bucket{deployment="up/upstream-model",model="up-chat",provider="up"`,
		`agentos_model_time_to_first_token_seconds_bucket{deployment="up/upstream-model",model="up-chat",provider="up"`,
		`agentos_model_tokens_total{deployment="up/upstream-model",estimated="false",model="up-chat",provider="up",type="completion"} 16`,
		`agentos_model_breaker_state{deployment="up/upstream-model",provider="up"} 0`,
		`agentos_policy_decisions_total{operation="chat.completions",result="allow"} 2`,
		`agentos_policy_evaluation_duration_seconds_bucket`,
		`agentos_model_calls_total{model="up-chat",operation="chat.completions",outcome="success"} 2`,
	} {
		require.Contains(t, m, want)
	}
}
