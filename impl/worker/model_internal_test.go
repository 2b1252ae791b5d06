package worker

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A model stream read to its [DONE] gives its connection back even when the response's
// end arrives a moment after the [DONE] event: a worker's model calls share connections
// instead of opening one each.
func TestModelStreamKeepsItsConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
		_ = http.NewResponseController(w).Flush()
		time.Sleep(20 * time.Millisecond) // the response ends after the client has its [DONE]
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	w, err := New(Config{OrchestratorURL: srv.URL, ModelPolicyURL: srv.URL})
	require.NoError(t, err)
	t.Cleanup(w.http.CloseIdleConnections)

	for range 3 {
		res, err := w.streamChat(context.Background(), runCred{tenant: "t"}, "m", []message{{Role: "user", Content: "x"}}, nil, func(string) {})
		require.NoError(t, err)
		require.Equal(t, "hi", res.content)
	}
	require.Equal(t, int64(1), conns.Load(), "one connection for three model calls")
}
