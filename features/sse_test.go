package features

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

type sseEvent struct {
	id    int64
	event string
	data  string
}

// sseStream reads one SSE connection in the background.
type sseStream struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	events     []sseEvent
	keepalives int
	err        error
}

// openStream opens GET /v1/runs/{id}/events. It uses net/http directly: the generated
// client reads a text/event-stream body to its end before returning, which suits
// finished runs but not a live tail.
func (w *world) openStream(baseURL string, runID string, lastEventID string, after int64) (*sseStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	u := baseURL + "/v1/runs/" + runID + "/events"
	if after > 0 {
		u += "?after=" + strconv.FormatInt(after, 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Tenant-Id", w.tenantID)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("stream: %d %s", resp.StatusCode, b)
	}
	s := &sseStream{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer resp.Body.Close()
		s.read(resp.Body)
	}()
	return s, nil
}

func (s *sseStream) read(r io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	has := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if has {
				s.mu.Lock()
				s.events = append(s.events, cur)
				s.mu.Unlock()
			}
			cur, has = sseEvent{}, false
		case strings.HasPrefix(line, ": keepalive"):
			s.mu.Lock()
			s.keepalives++
			s.mu.Unlock()
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			has = true
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	s.mu.Lock()
	s.err = sc.Err()
	s.mu.Unlock()
}

func (s *sseStream) snapshot() []sseEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sseEvent(nil), s.events...)
}

// waitFor waits until cond holds for the events received, or the timeout.
func (s *sseStream) waitFor(timeout time.Duration, cond func([]sseEvent) bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond(s.snapshot()) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond(s.snapshot())
}

// ended reports whether the server closed the stream.
func (s *sseStream) ended(timeout time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (s *sseStream) close() {
	s.cancel()
	<-s.done
}
