package provider_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
)

type routerBundle struct {
	router *provider.Router
	ups    []*upstreamtest.Server
	reg    *prometheus.Registry
}

// setupRouter starts n test upstreams and a router whose model "m" has one deployment on
// each, falling back to "fb" (builtin), with the YAML extra appended to the model.
func setupRouter(t *testing.T, n int, modelExtra string) routerBundle {
	t.Helper()
	var b routerBundle
	var providers, deployments strings.Builder
	for i := range n {
		up := upstreamtest.New(upstreamtest.Behavior{}, true)
		t.Cleanup(up.Close)
		b.ups = append(b.ups, up)
		fmt.Fprintf(&providers, "  - {name: up%d, type: openai, base_url: %q}\n", i, up.BaseURL())
		fmt.Fprintf(&deployments, "      - {provider: up%d, model: upstream-m}\n", i)
	}
	yaml := fmt.Sprintf(`
providers:
%s  - {name: local, type: builtin}
defaults:
  timeout: 300ms
  first_byte_timeout: 300ms
  idle_timeout: 300ms
  backoff: 1ms
  max_backoff: 5ms
  breaker_failures: 3
  breaker_cooldown: 1h
models:
  - name: m
    type: chat
    deployments:
%s%s
  - name: fb
    type: chat
    deployments: [{provider: local}]
`, providers.String(), deployments.String(), modelExtra)
	f, err := provider.ParseFile([]byte(yaml), nil)
	require.NoError(t, err)
	b.reg = prometheus.NewRegistry()
	tr := provider.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	b.router, err = provider.NewRouter(f, provider.RouterOptions{Metrics: provider.NewMetrics(b.reg), Transport: tr})
	require.NoError(t, err)
	return b
}

var chatBody = []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)

func TestRouterRetriesAndFailsOver(t *testing.T) {
	t.Parallel()
	for name, bad := range map[string]upstreamtest.Behavior{
		"503":  {Status: 503},
		"hang": {Hang: true},
		"drop": {Drop: true},
		"429":  {Status: 429, RetryAfter: 0},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupRouter(t, 2, "")
			b.ups[0].SetDefault(bad)
			b.ups[1].SetDefault(bad)
			b.ups[1].Then(upstreamtest.Behavior{}) // the other deployment answers once
			b.ups[0].Then(bad)
			resp, served, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
			require.NoError(t, err)
			require.Contains(t, string(resp.Body), "chatcmpl-upstreamtest")
			require.Equal(t, "up1/upstream-m", served.Deployment.ID)
			require.GreaterOrEqual(t, served.Attempts, 1)
			last, _ := b.ups[1].Last()
			require.Contains(t, string(last.Body), `"model":"upstream-m"`, "the model name is mapped")
		})
	}
}

func TestRouterFallsBackToAnotherModel(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 1, "    fallbacks: [fb]\n    retries: 1")
	b.ups[0].SetDefault(upstreamtest.Behavior{Status: 502})
	resp, served, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
	require.NoError(t, err)
	require.Equal(t, "fb", served.Model.Name)
	require.Contains(t, string(resp.Body), "You said: hi")
	require.EqualValues(t, 2, b.ups[0].Count(), "1 + retries attempts before falling back")
	require.Equal(t, 3, served.Attempts)

	// A fallback the policy does not permit is skipped.
	_, _, err = b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody,
		Permit: func(context.Context, string) error { return errors.New("denied") }})
	e, ok := provider.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 502, e.Status)
}

func TestRouterDoesNotRetryClientErrors(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 2, "")
	b.ups[0].SetDefault(upstreamtest.Behavior{Status: 400})
	b.ups[1].SetDefault(upstreamtest.Behavior{Status: 400})
	_, _, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
	e, ok := provider.AsError(err)
	require.True(t, ok)
	require.Equal(t, 400, e.Status)
	require.EqualValues(t, 1, b.ups[0].Count()+b.ups[1].Count())
}

func TestRouterGivesUpAfterRetries(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 1, "    retries: 2")
	b.ups[0].SetDefault(upstreamtest.Behavior{Hang: true})
	start := time.Now()
	_, _, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
	e, ok := provider.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, provider.KindTimeout, e.Kind)
	require.EqualValues(t, 3, b.ups[0].Count())
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestRouterBreakerOpens(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 1, "    retries: 0")
	b.ups[0].SetDefault(upstreamtest.Behavior{Status: 500})
	for range 3 {
		_, _, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
		require.Error(t, err)
	}
	_, _, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
	e, ok := provider.AsError(err)
	require.True(t, ok)
	require.Equal(t, provider.KindBreakerOpen, e.Kind)
	require.EqualValues(t, 3, b.ups[0].Count(), "an open breaker sends nothing upstream")
	require.InDelta(t, 2, testutil.ToFloat64(b.router.Metrics().BreakerGauge("up0", "up0/upstream-m")), 0)
}

func TestRouterUnknownModel(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 1, "")
	_, _, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "nope", Body: chatBody})
	e, ok := provider.AsError(err)
	require.True(t, ok)
	require.Equal(t, 404, e.Status)
}

func drain(t *testing.T, rl *provider.Relay) (int, error) {
	t.Helper()
	n := 1
	for {
		_, err := rl.Next()
		if errors.Is(err, io.EOF) {
			rl.Close(nil)
			return n, nil
		}
		if err != nil {
			rl.Close(err)
			return n, err
		}
		n++
	}
}

var streamBody = []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)

func TestRouterStreamFailsOverBeforeTheFirstEvent(t *testing.T) {
	t.Parallel()
	for name, bad := range map[string]upstreamtest.Behavior{
		"503":             {Status: 503},
		"slow first byte": {Latency: time.Second},
		"drop":            {Drop: true},
		"hang":            {Hang: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupRouter(t, 2, "")
			b.ups[0].SetDefault(bad)
			b.ups[1].SetDefault(bad)
			b.ups[0].Then(bad)
			b.ups[1].Then(upstreamtest.Behavior{Words: 5})
			rl, err := b.router.Stream(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: streamBody})
			require.NoError(t, err)
			require.Equal(t, "up1/upstream-m", rl.Served.Deployment.ID)
			n, err := drain(t, rl)
			require.NoError(t, err)
			require.Equal(t, 6, n, "5 word chunks and the finish chunk")
		})
	}
}

func TestRouterStreamBreaksCleanlyAfterTheFirstEvent(t *testing.T) {
	t.Parallel()
	for name, bad := range map[string]upstreamtest.Behavior{
		"drop": {DropAfterChunks: 2, Words: 5},
		"idle": {ChunkDelay: time.Second, Words: 3},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupRouter(t, 1, "")
			b.ups[0].SetDefault(bad)
			rl, err := b.router.Stream(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: streamBody})
			require.NoError(t, err)
			_, err = drain(t, rl)
			e, ok := provider.AsError(err)
			require.True(t, ok, "%v", err)
			require.Contains(t, []provider.ErrorKind{provider.KindConnection, provider.KindTimeout}, e.Kind)
			require.EqualValues(t, 1, b.ups[0].Count(), "a stream already relayed is not retried")
		})
	}
}

func TestRouterStreamCancelledByClient(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 1, "")
	b.ups[0].SetDefault(upstreamtest.Behavior{ChunkDelay: 50 * time.Millisecond, Words: 50})
	ctx, cancel := context.WithCancel(context.Background())
	rl, err := b.router.Stream(ctx, provider.Call{Op: provider.OpChat, Model: "m", Body: streamBody})
	require.NoError(t, err)
	cancel()
	_, err = drain(t, rl)
	e, ok := provider.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, provider.KindCanceled, e.Kind)
}

func TestRouterLeastBusy(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 2, "    routing: least_busy")
	b.ups[0].SetDefault(upstreamtest.Behavior{ChunkDelay: 20 * time.Millisecond, Words: 20})
	// Hold a stream open on one deployment; the next calls go to the other.
	rl, err := b.router.Stream(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: streamBody})
	require.NoError(t, err)
	busy := rl.Served.Deployment.ID
	for range 4 {
		_, served, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
		require.NoError(t, err)
		require.NotEqual(t, busy, served.Deployment.ID)
	}
	_, err = drain(t, rl)
	require.NoError(t, err)
}

func TestRouterWeighted(t *testing.T) {
	t.Parallel()
	up := upstreamtest.New(upstreamtest.Behavior{}, false)
	t.Cleanup(up.Close)
	f, err := provider.ParseFile([]byte(fmt.Sprintf(`
providers: [{name: a, type: openai, base_url: %q}, {name: b, type: builtin}]
models:
  - name: m
    type: chat
    deployments: [{provider: a, weight: 9}, {provider: b, weight: 1}]
`, up.BaseURL())), nil)
	require.NoError(t, err)
	tr := provider.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	r, err := provider.NewRouter(f, provider.RouterOptions{Transport: tr})
	require.NoError(t, err)
	counts := map[string]int{}
	for range 400 {
		_, served, err := r.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: chatBody})
		require.NoError(t, err)
		counts[served.Deployment.Provider.Name()]++
	}
	require.InDelta(t, 360, counts["a"], 40, "%v", counts)
}

// TestRouterAppliesEdits: a call's edits reach every attempt's upstream in the pass that
// sets the deployment's model name, byte for byte what setting them one after the other
// gives; a body they cannot be applied to fails with an EditError and sends nothing.
func TestRouterAppliesEdits(t *testing.T) {
	t.Parallel()
	b := setupRouter(t, 1, "    retries: 1")
	body := []byte(`{"model":"m", "max_tokens":9000,"messages":[{"role":"user","content":"h\u00e9"}],"x":{"y":[1]}}`)
	edits := []provider.Field{{Key: "max_tokens", Value: []byte("64")}, {Key: "stream_options", Value: []byte(`{"include_usage":true}`)}}
	b.ups[0].Then(upstreamtest.Behavior{Status: 503}) // the retry must send the same bytes
	_, served, err := b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: body, Edits: edits})
	require.NoError(t, err)
	require.Equal(t, 2, served.Attempts)
	edited, err := provider.SetFields(body, edits...)
	require.NoError(t, err)
	want, err := provider.SetFields(edited, provider.Field{Key: "model", Value: []byte(`"upstream-m"`)})
	require.NoError(t, err)
	reqs := b.ups[0].Requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		require.Equal(t, string(want), string(r.Body))
	}
	require.Equal(t, `"m"`, string(provider.GetField(body, "model")), "the caller's body is not modified")

	_, _, err = b.router.Do(context.Background(), provider.Call{Op: provider.OpChat, Model: "m", Body: []byte(`[1]`), Edits: edits})
	var ee *provider.EditError
	require.ErrorAs(t, err, &ee)
	require.Len(t, b.ups[0].Requests(), 2, "nothing more was sent")
}
