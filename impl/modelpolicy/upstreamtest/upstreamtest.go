// Package upstreamtest is a scriptable OpenAI-compatible model server for tests and
// benchmarks of the model gateway: it answers chat completions (plain and streamed) and
// embeddings, records every request, and can be told to be slow, to fail with a status,
// to hang, to drop the connection, to break a stream after some chunks, or to omit usage.
// It is test infrastructure, like net/http/httptest; nothing in production imports it.
package upstreamtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behavior scripts how the server answers a request.
type Behavior struct {
	// Latency is waited before answering (before the first chunk of a stream).
	Latency time.Duration
	// Status, when not 0 or 200, is answered with an OpenAI error body.
	Status int
	// RetryAfter is sent as Retry-After (seconds) with a Status.
	RetryAfter int
	// Hang never answers; the request ends only when the client gives up.
	Hang bool
	// Drop closes the connection without an answer.
	Drop bool
	// Words is the number of words of a chat answer (default 8); a stream sends one
	// chunk per word.
	Words int
	// ChunkDelay is waited between stream chunks.
	ChunkDelay time.Duration
	// DropAfterChunks, when > 0, breaks a stream after that many chunks (no [DONE]).
	DropAfterChunks int
	// NoUsage omits usage everywhere, even when stream_options.include_usage asks.
	NoUsage bool
	// PromptTokens is the reported prompt usage (default 10).
	PromptTokens int
}

// Request is a recorded request.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Server is a running test upstream.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	def      Behavior
	queue    []Behavior
	requests []Request
	record   bool
	count    atomic.Int64
}

// New starts a server answering every request with def (record: keep every request).
func New(def Behavior, record bool) *Server {
	s := &Server{def: def, record: record}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the API root to configure as a provider's base_url.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// SetDefault replaces the behavior of requests with nothing queued.
func (s *Server) SetDefault(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = b
}

// Then queues behaviors for the next requests, in order; later requests get the default.
func (s *Server) Then(bs ...Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, bs...)
}

// Reset forgets the recorded requests and the queue and sets a new default.
func (s *Server) Reset(def Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def, s.queue, s.requests = def, nil, nil
	s.count.Store(0)
}

// Requests returns the recorded requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Last returns the last recorded request.
func (s *Server) Last() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// Count is the number of requests received.
func (s *Server) Count() int64 { return s.count.Load() }

func (s *Server) next() Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		b := s.queue[0]
		s.queue = s.queue[1:]
		return b
	}
	return s.def
}

type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Input json.RawMessage `json:"input"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.count.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if s.record {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
	}
	b := s.next()
	if b.Hang {
		<-r.Context().Done()
		return
	}
	if b.Drop {
		panic(http.ErrAbortHandler)
	}
	if b.Latency > 0 {
		select {
		case <-time.After(b.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if b.Status != 0 && b.Status != http.StatusOK {
		if b.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(b.RetryAfter))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(b.Status)
		fmt.Fprintf(w, `{"error":{"message":"scripted status %d","type":"upstream_test","code":null,"param":null}}`, b.Status)
		return
	}
	var req chatRequest
	_ = json.Unmarshal(body, &req)
	switch r.URL.Path {
	case "/v1/chat/completions":
		if req.Stream {
			s.stream(w, r, b, req)
		} else {
			s.complete(w, b, req)
		}
	case "/v1/embeddings":
		s.embed(w, b, req)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":"no route %s","type":"invalid_request_error"}}`, r.URL.Path)
	}
}

func words(b Behavior) []string {
	n := b.Words
	if n <= 0 {
		n = 8
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("w%d", i+1)
	}
	return out
}

func promptTokens(b Behavior) int {
	if b.PromptTokens > 0 {
		return b.PromptTokens
	}
	return 10
}

func (s *Server) complete(w http.ResponseWriter, b Behavior, req chatRequest) {
	ws := words(b)
	resp := map[string]any{
		"id": "chatcmpl-upstreamtest", "object": "chat.completion", "created": 1700000000, "model": req.Model,
		"system_fingerprint": "upstreamtest",
		"choices":            []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": strings.Join(ws, " ")}, "finish_reason": "stop"}},
	}
	if !b.NoUsage {
		p := promptTokens(b)
		resp["usage"] = map[string]int{"prompt_tokens": p, "completion_tokens": len(ws), "total_tokens": p + len(ws)}
	}
	out, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, b Behavior, req chatRequest) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(v any) {
		out, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", out)
		_ = rc.Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": "chatcmpl-upstreamtest", "object": "chat.completion.chunk", "created": 1700000000, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		}
	}
	ws := words(b)
	sent := 0
	for i, word := range ws {
		if i > 0 && b.ChunkDelay > 0 {
			select {
			case <-time.After(b.ChunkDelay):
			case <-r.Context().Done():
				return
			}
		}
		if i > 0 {
			word = " " + word
		}
		delta := map[string]any{"content": word}
		if i == 0 {
			delta["role"] = "assistant"
		}
		send(chunk(delta, nil))
		sent++
		if b.DropAfterChunks > 0 && sent >= b.DropAfterChunks {
			panic(http.ErrAbortHandler)
		}
	}
	send(chunk(map[string]any{}, "stop"))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !b.NoUsage {
		p := promptTokens(b)
		send(map[string]any{
			"id": "chatcmpl-upstreamtest", "object": "chat.completion.chunk", "created": 1700000000, "model": req.Model,
			"choices": []any{}, "usage": map[string]int{"prompt_tokens": p, "completion_tokens": len(ws), "total_tokens": p + len(ws)},
		})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func (s *Server) embed(w http.ResponseWriter, b Behavior, req chatRequest) {
	n := 1
	var arr []json.RawMessage
	if json.Unmarshal(req.Input, &arr) == nil && len(arr) > 0 {
		n = len(arr)
	}
	data := make([]any, n)
	for i := range data {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": []float64{1, 0, 0}}
	}
	resp := map[string]any{"object": "list", "data": data, "model": req.Model}
	if !b.NoUsage {
		resp["usage"] = map[string]int{"prompt_tokens": promptTokens(b), "total_tokens": promptTokens(b)}
	}
	out, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}
