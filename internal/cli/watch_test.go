package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

var printedSeq = regexp.MustCompile(`(?m)^#(\d+)  `)

// printedSeqs returns the seqs of the event lines in a watch's output, in order.
func printedSeqs(t *testing.T, out string) []int64 {
	t.Helper()
	var seqs []int64
	for _, m := range printedSeq.FindAllStringSubmatch(out, -1) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		require.NoError(t, err)
		seqs = append(seqs, n)
	}
	return seqs
}

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestRunsWatchResumesAfterDroppedConnections puts a TCP proxy between `runs watch` and
// the orchestrator and drops every connection mid-stream, several times, while a worker
// keeps appending events: the output holds every seq exactly once, in order.
func TestRunsWatchResumesAfterDroppedConnections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createAgent(t, "a1")
	created, err := b.api.CreateRun(t.Context(), &orchestratorapi.RunInput{Input: "go"}, orchestratorapi.CreateRunParams{AgentID: "a1"})
	require.NoError(t, err)
	runID := created.Response.RunID
	lease, _ := b.leaseAny(t)             // #1 run.queued, #2 run.started
	b.appendDeltas(t, runID, lease, 0, 5) // #3..#7

	proxy := startProxy(t, b.url)
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		done <- Execute(ctx, []string{"runs", "watch", string(runID), "--orchestrator-url", proxy.url(), "--tenant", b.tenant}, &out, &out, nil)
	}()
	waitOutput := func(s string) {
		t.Helper()
		require.Eventually(t, func() bool { return strings.Contains(out.String(), s) }, 20*time.Second, 5*time.Millisecond, "output lacks %q:\n%s", s, out.String())
	}

	waitOutput("#7  ")
	proxy.dropAll()                       // mid-stream, between events
	b.appendDeltas(t, runID, lease, 5, 5) // #8..#12, appended while the watch reconnects
	waitOutput("#12  ")
	proxy.dropAll()
	for i := range 5 { // #13..#17, each printed from a live stream that is then dropped
		b.appendDeltas(t, runID, lease, 10+i, 1)
		waitOutput(fmt.Sprintf("#%d  ", 13+i))
		proxy.dropAll()
	}
	b.appendDeltas(t, runID, lease, 15, 5) // #18..#22
	_, err = b.worker.CompleteRun(t.Context(), &orchestratorapi.CompleteInput{LeaseID: lease.LeaseID, FencingToken: lease.FencingToken, Output: "done"}, orchestratorapi.CompleteRunParams{RunID: runID})
	require.NoError(t, err) // #23 run.completed

	var code int
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("watch did not end:\n%s", out.String())
	}
	final, err := b.api.GetRun(t.Context(), orchestratorapi.GetRunParams{RunID: runID})
	require.NoError(t, err)
	require.Equal(t, int64(23), final.LastSeq)

	output := out.String()
	require.Zero(t, code, output)
	require.Equal(t, seqRange(1, 23), printedSeqs(t, output), output)
	require.Regexp(t, `(?m)^#23  run\.completed  `, output)
	require.True(t, strings.HasSuffix(output, "run "+string(runID)+" completed\n"), output)
	require.Equal(t, 7, strings.Count(output, "reconnecting in 100ms"), "one reconnection per drop")
	require.GreaterOrEqual(t, proxy.accepted(), 1+8, "GetRun, then the stream and its 7 reconnections")
}

// TestRunsWatchScripted serves a scripted event stream: a gap, a duplicate, a clean end
// before the terminal event, a cut event, a silent connection and a 503; the watch
// resumes each time from the last seq it printed.
func TestRunsWatchScripted(t *testing.T) {
	t.Parallel()
	const runID = "run_abc"
	ev := func(seq int, typ, data string) string {
		return fmt.Sprintf("id: %d\nevent: %s\ndata: {\"run_id\":%q,\"seq\":%d,\"type\":%q,\"time\":\"2030-01-01T00:00:00Z\",\"data\":%s}\n\n", seq, typ, runID, seq, typ, data)
	}
	delta := func(seq int) string { return ev(seq, "model.delta", fmt.Sprintf(`{"text":"t%d"}`, seq)) }
	script := []func(w http.ResponseWriter, r *http.Request){
		func(w http.ResponseWriter, _ *http.Request) { // a gap after #2
			writeSSE(w, "retry: 1000\n\n", ev(1, "run.queued", `{}`), delta(2), delta(4))
		},
		func(w http.ResponseWriter, _ *http.Request) { // a duplicate, then the end without the terminal event
			writeSSE(w, delta(2), ": keepalive\n\n", delta(3), delta(4))
		},
		func(w http.ResponseWriter, _ *http.Request) { // an event cut short
			writeSSE(w, delta(5)[:20])
		},
		func(w http.ResponseWriter, r *http.Request) { // nothing at all until the client leaves
			writeSSE(w)
			<-r.Context().Done()
		},
		func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"type":"about:blank","title":"Service Unavailable","status":503,"code":"unavailable"}`)
		},
		func(w http.ResponseWriter, _ *http.Request) {
			writeSSE(w, delta(5), ev(6, "run.failed", `{"error":{"code":"tool_error","message":"boom"}}`))
		},
	}
	var (
		mu       sync.Mutex
		lastIDs  []string
		requests int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/runs/" + runID:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"run_id":"run_abc","tenant_id":"tnt_demo","agent_id":"a1","agent_version":1,"status":"running","input":"","attempt":1,"max_attempts":3,"usage":{"prompt_tokens":0,"completion_tokens":0},"metadata":{},"created_at":"2030-01-01T00:00:00Z","last_seq":2}`)
		case "/v1/runs/" + runID + "/events":
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			i := requests
			requests++
			mu.Unlock()
			if i >= len(script) {
				http.Error(w, "script over", http.StatusGone)
				return
			}
			script[i](w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	var out syncBuffer
	code := Execute(t.Context(), []string{"runs", "watch", runID, "--orchestrator-url", srv.URL, "--idle-timeout", "200ms"}, &out, &out, nil)
	output := out.String()
	require.Equal(t, 1, code, output)
	require.Equal(t, seqRange(1, 6), printedSeqs(t, output), output)
	require.Contains(t, output, "#2  model.delta  t2\n")
	require.Contains(t, output, "#1  run.queued\n")
	require.Contains(t, output, "event #4 arrived after #2: events are missing")
	require.Contains(t, output, "the stream ended before the run did")
	require.Contains(t, output, "unexpected EOF")
	require.Contains(t, output, "nothing received for 200ms")
	require.Contains(t, output, "503 unavailable")
	require.Contains(t, output, "#6  run.failed  error={\"code\":\"tool_error\",\"message\":\"boom\"}\n")
	require.Contains(t, output, "run run_abc failed: tool_error: boom\n")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"0", "2", "4", "4", "4", "4"}, lastIDs)
}

// TestRunsWatchGivesUp: a stream that never comes back ends the watch after
// --reconnect-timeout; a problem that reconnecting cannot mend ends it at once.
func TestRunsWatchGivesUp(t *testing.T) {
	t.Parallel()
	const run = `{"run_id":"run_abc","tenant_id":"tnt_demo","agent_id":"a1","agent_version":1,"status":"running","input":"","attempt":1,"max_attempts":3,"usage":{"prompt_tokens":0,"completion_tokens":0},"metadata":{},"created_at":"2030-01-01T00:00:00Z","last_seq":0}`
	serve := func(eventsStatus int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/events") {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(eventsStatus)
				_, _ = fmt.Fprintf(w, `{"type":"about:blank","title":"t","status":%d,"code":"c%d"}`, eventsStatus, eventsStatus)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, run)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}

	t.Run("unavailable", func(t *testing.T) {
		t.Parallel()
		var out syncBuffer
		start := time.Now()
		code := Execute(t.Context(), []string{"runs", "watch", "run_abc", "--orchestrator-url", serve(http.StatusBadGateway), "--reconnect-timeout", "500ms"}, &out, &out, nil)
		require.Equal(t, 1, code, out.String())
		require.Contains(t, out.String(), "give up on the events of run run_abc after #0: no event for 500ms: 502 c502")
		require.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("forbidden", func(t *testing.T) {
		t.Parallel()
		var out syncBuffer
		code := Execute(t.Context(), []string{"runs", "watch", "run_abc", "--orchestrator-url", serve(http.StatusForbidden)}, &out, &out, nil)
		require.Equal(t, 1, code, out.String())
		require.Equal(t, "agentos: 403 c403: t\n", out.String())
	})
}

// writeSSE answers an event stream made of chunks, flushed one by one.
func writeSSE(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for _, c := range chunks {
		_, _ = io.WriteString(w, c)
		w.(http.Flusher).Flush()
	}
}

// tcpProxy forwards TCP connections to a target and can drop them all at once.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	count  int
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, targetURL string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(targetURL)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		p.dropAll()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[upstream] = struct{}{}, struct{}{}
		p.count++
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		p.wg.Go(func() { pipe(upstream, client) })
		p.wg.Go(func() { pipe(client, upstream) })
	}
}

// dropAll closes every open connection, both sides.
func (p *tcpProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// accepted is how many connections the proxy has accepted.
func (p *tcpProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}
