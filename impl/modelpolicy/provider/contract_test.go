package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// RunContract is the contract every Provider keeps, run against the builtin provider
// and against an openai provider talking to the test upstream.
func RunContract(t *testing.T, newProvider func(t *testing.T) provider.Provider) {
	ctx := context.Background()
	chat := []byte(`{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":50,"x_unknown":{"kept":true}}`)

	t.Run("chat", func(t *testing.T) {
		p := newProvider(t)
		resp, err := p.Do(ctx, provider.Request{Op: provider.OpChat, Body: chat})
		require.NoError(t, err)
		var out struct {
			Object  string `json:"object"`
			Choices []struct {
				Message struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage struct {
				Total int64 `json:"total_tokens"`
			} `json:"usage"`
		}
		require.NoError(t, json.Unmarshal(resp.Body, &out))
		require.Equal(t, "chat.completion", out.Object)
		require.Len(t, out.Choices, 1)
		require.Equal(t, "assistant", out.Choices[0].Message.Role)
		require.NotEmpty(t, out.Choices[0].Message.Content)
		require.Equal(t, "stop", out.Choices[0].FinishReason)
		require.True(t, resp.Usage.Present)
		require.Equal(t, out.Usage.Total, resp.Usage.TotalTokens)
		require.Positive(t, resp.Usage.PromptTokens)
		require.Positive(t, resp.Usage.CompletionTokens)
	})

	t.Run("stream", func(t *testing.T) {
		p := newProvider(t)
		body := []byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there"}]}`)
		s, err := p.Stream(ctx, provider.Request{Op: provider.OpChat, Body: body})
		require.NoError(t, err)
		defer s.Close()
		var text strings.Builder
		var usage provider.Usage
		finish := ""
		events := 0
		for {
			data, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			events++
			var c struct {
				Object  string `json:"object"`
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
			}
			require.NoError(t, json.Unmarshal(data, &c), string(data))
			require.Equal(t, "chat.completion.chunk", c.Object)
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
				if ch.FinishReason != nil {
					finish = *ch.FinishReason
				}
			}
			if info := provider.InspectChunk(data); info.UsageOnly {
				usage = info.Usage
			}
		}
		require.Greater(t, events, 2, "the answer comes in several chunks")
		require.NotEmpty(t, text.String())
		require.Equal(t, "stop", finish)
		require.True(t, usage.Present, "include_usage yields a usage chunk")
		_, err = s.Next()
		require.ErrorIs(t, err, io.EOF, "the stream stays ended")
	})

	t.Run("stream without usage asked", func(t *testing.T) {
		p := newProvider(t)
		body := []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		s, err := p.Stream(ctx, provider.Request{Op: provider.OpChat, Body: body})
		require.NoError(t, err)
		defer s.Close()
		for {
			data, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.False(t, provider.InspectChunk(data).UsageOnly)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		p := newProvider(t)
		resp, err := p.Do(ctx, provider.Request{Op: provider.OpEmbeddings, Body: []byte(`{"model":"e","input":["a b","c"]}`)})
		require.NoError(t, err)
		var out struct {
			Object string `json:"object"`
			Data   []struct {
				Index     int       `json:"index"`
				Embedding []float64 `json:"embedding"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(resp.Body, &out))
		require.Equal(t, "list", out.Object)
		require.Len(t, out.Data, 2)
		require.Equal(t, 1, out.Data[1].Index)
		require.NotEmpty(t, out.Data[0].Embedding)
		require.True(t, resp.Usage.Present)
	})

	t.Run("cancelled", func(t *testing.T) {
		p := newProvider(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := p.Do(cctx, provider.Request{Op: provider.OpChat, Body: chat})
		require.Error(t, err)
		_, err = p.Stream(cctx, provider.Request{Op: provider.OpChat, Body: chat})
		require.Error(t, err)
	})
}

func TestBuiltinContract(t *testing.T) {
	t.Parallel()
	RunContract(t, func(*testing.T) provider.Provider { return provider.NewBuiltin("builtin", 0) })
}

// newUpstream starts a test upstream and an openai provider on it, both closed with t.
func newUpstream(t *testing.T, def upstreamtest.Behavior) (*upstreamtest.Server, *provider.OpenAI) {
	t.Helper()
	up := upstreamtest.New(def, true)
	tr := provider.NewTransport()
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		up.Close()
	})
	return up, provider.NewOpenAI(provider.OpenAIConfig{Name: "up", BaseURL: up.BaseURL(), APIKey: "sk-test", Headers: map[string]string{"X-Extra": "1"}, Transport: tr})
}

func TestOpenAIContract(t *testing.T) {
	t.Parallel()
	RunContract(t, func(t *testing.T) provider.Provider {
		_, p := newUpstream(t, upstreamtest.Behavior{})
		return p
	})
}

func TestOpenAIForwardsBytesAndHeaders(t *testing.T) {
	t.Parallel()
	up, p := newUpstream(t, upstreamtest.Behavior{})
	body := []byte(`{"model":"m", "messages":[{"role":"user","content":"x"}],"vendor_extension":[1,2,{"a":null}]}`)
	_, err := p.Do(context.Background(), provider.Request{Op: provider.OpChat, Body: body})
	require.NoError(t, err)
	last, ok := up.Last()
	require.True(t, ok)
	require.Equal(t, "/v1/chat/completions", last.Path)
	require.Equal(t, string(body), string(last.Body), "the body is forwarded byte for byte")
	require.Equal(t, "Bearer sk-test", last.Header.Get("Authorization"))
	require.Equal(t, "1", last.Header.Get("X-Extra"))
}

func TestOpenAIFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	chat := provider.Request{Op: provider.OpChat, Body: []byte(`{"model":"m","messages":[]}`)}
	stream := provider.Request{Op: provider.OpChat, Body: []byte(`{"model":"m","stream":true,"messages":[]}`)}

	t.Run("status", func(t *testing.T) {
		t.Parallel()
		up, p := newUpstream(t, upstreamtest.Behavior{Status: 503, RetryAfter: 2})
		_, err := p.Do(ctx, chat)
		e, ok := provider.AsError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.KindStatus, e.Kind)
		require.Equal(t, 503, e.Status)
		require.Equal(t, "scripted status 503", e.Message)
		require.Equal(t, 2*time.Second, e.RetryAfter)
		require.True(t, e.Retryable())
		up.SetDefault(upstreamtest.Behavior{Status: 400})
		_, err = p.Stream(ctx, stream)
		e, _ = provider.AsError(err)
		require.Equal(t, 400, e.Status)
		require.False(t, e.Retryable())
	})
	t.Run("hang", func(t *testing.T) {
		t.Parallel()
		_, p := newUpstream(t, upstreamtest.Behavior{Hang: true})
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := p.Do(tctx, chat)
		e, ok := provider.AsError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.KindTimeout, e.Kind)
	})
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		_, p := newUpstream(t, upstreamtest.Behavior{Drop: true})
		_, err := p.Do(ctx, chat)
		e, ok := provider.AsError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.KindConnection, e.Kind)
		require.True(t, e.Retryable())
	})
	t.Run("stream broken", func(t *testing.T) {
		t.Parallel()
		_, p := newUpstream(t, upstreamtest.Behavior{DropAfterChunks: 2})
		s, err := p.Stream(ctx, stream)
		require.NoError(t, err)
		defer s.Close()
		for range 2 {
			_, err := s.Next()
			require.NoError(t, err)
		}
		_, err = s.Next()
		e, ok := provider.AsError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.KindConnection, e.Kind)
	})
	t.Run("not an event stream", func(t *testing.T) {
		t.Parallel()
		_, p := newUpstream(t, upstreamtest.Behavior{})
		// A non-streaming request body makes the test upstream answer JSON.
		_, err := p.Stream(ctx, chat)
		e, ok := provider.AsError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, provider.KindProtocol, e.Kind)
	})
}

// A stream that ended with [DONE] gives its upstream connection back, even when the
// upstream ends the response a moment after the [DONE] event (as many servers do): the
// next call reuses it instead of opening another.
func TestOpenAIStreamKeepsItsConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n")
		_ = http.NewResponseController(w).Flush()
		time.Sleep(20 * time.Millisecond)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	tr := provider.NewTransport()
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		up.Close()
	})
	p := provider.NewOpenAI(provider.OpenAIConfig{Name: "up", BaseURL: up.URL + "/v1", Transport: tr})
	for range 3 {
		s, err := p.Stream(context.Background(), provider.Request{Op: provider.OpChat, Body: []byte(`{"model":"m","stream":true,"messages":[]}`)})
		require.NoError(t, err)
		data, err := s.Next()
		require.NoError(t, err)
		require.Contains(t, string(data), "hi")
		_, err = s.Next()
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, s.Close())
		time.Sleep(200 * time.Millisecond) // the drain, in the background, ends 20 ms after [DONE]
	}
	require.Equal(t, int64(1), conns.Load(), "one connection for three streams")
}
