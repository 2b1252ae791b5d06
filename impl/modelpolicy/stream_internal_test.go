package modelpolicy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A non-streamed answer reaches the client while the handler still has the call's
// bookkeeping to do: writeJSON sends it, it does not wait for the handler to return.
func TestWriteJSONSendsTheAnswerBeforeTheHandlerReturns(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, []byte(`{"ok":true}`))
		<-release // the bookkeeping after the answer
	}))
	defer srv.Close()
	defer close(release)

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- resp.Header.Get("Content-Length") + " " + string(b)
	}()
	select {
	case s := <-got:
		require.Equal(t, `11 {"ok":true}`, s)
	case <-time.After(5 * time.Second):
		t.Fatal("the answer did not arrive before the handler returned")
	}
}
