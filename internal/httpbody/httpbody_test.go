package httpbody_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/httpbody"
)

// eventStream serves an event stream whose last chunk comes after its [DONE]: the
// server flushes the event, then takes a moment (hold) before it ends the response.
// It counts the connections clients opened.
func eventStream(t *testing.T, hold <-chan struct{}) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"n\":1}\n\ndata: [DONE]\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// readToDone reads an event stream up to its [DONE], as an SSE client does, and stops.
func readToDone(t *testing.T, c *http.Client, url string) io.ReadCloser {
	resp, err := c.Get(url)
	require.NoError(t, err)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			return resp.Body
		}
	}
	t.Fatalf("no [DONE]: %v", sc.Err())
	return nil
}

// A body drained to its end gives its connection back: three streams, one connection.
// Closed at [DONE] without the drain, each stream costs a connection (the control).
func TestDrainCloseKeepsTheConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		close func(io.ReadCloser) error
		conns int64
	}{
		{"drained", httpbody.DrainClose, 1},
		{"closed at [DONE]", io.ReadCloser.Close, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hold := make(chan struct{})
			srv, conns := eventStream(t, hold)
			c := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(c.CloseIdleConnections)
			for range 3 {
				body := readToDone(t, c, srv.URL)
				go func() { // the response's end arrives a little after its [DONE]
					time.Sleep(20 * time.Millisecond)
					select {
					case hold <- struct{}{}:
					case <-time.After(time.Second): // closed at [DONE]: that handler has returned
					}
				}()
				require.NoError(t, tc.close(body))
			}
			require.Equal(t, tc.conns, conns.Load())
		})
	}
}

// A server that never ends the response after [DONE] costs DrainWait, not a hang.
func TestDrainCloseGivesUp(t *testing.T) {
	t.Parallel()
	srv, _ := eventStream(t, nil) // never ends
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	body := readToDone(t, c, srv.URL)
	start := time.Now()
	require.NoError(t, httpbody.DrainClose(body))
	took := time.Since(start)
	require.GreaterOrEqual(t, took, httpbody.DrainWait)
	require.Less(t, took, httpbody.DrainWait+2*time.Second)
	_, err := body.Read(make([]byte, 1))
	require.Error(t, err, "the body is closed")
}
