package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-faster/jx"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/httpserver"
)

// GetRunEvents implements getRunEvents: a resumable SSE stream, or JSON pages.
func (s *Service) GetRunEvents(ctx context.Context, params orchestratorapi.GetRunEventsParams) (orchestratorapi.GetRunEventsRes, error) {
	r, err := s.tenantRun(ctx, string(params.RunID))
	if err != nil {
		return nil, err
	}
	after := params.After.Or(0)
	if v, ok := params.LastEventID.Get(); ok && v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return nil, apierr.InvalidField("Last-Event-ID", "must be the seq of an event (a non-negative integer)")
		}
		after = max(after, n)
	}
	if params.Format.Or(orchestratorapi.GetRunEventsFormatSse) == orchestratorapi.GetRunEventsFormatJSON {
		return s.eventPage(ctx, r, after, int(params.Limit.Or(100)))
	}
	httpserver.SetHeader(ctx, "Cache-Control", "no-cache")
	httpserver.SetHeader(ctx, "X-Accel-Buffering", "no")
	s.metrics.sseSubscribers.Inc()
	es := &eventStream{s: s, ctx: ctx, run: r, sub: s.hub.Subscribe(r.ID, r.LastSeq), after: after,
		keepalive: time.NewTicker(s.cfg.SSEKeepalive)}
	es.buf.WriteString("retry: 1000\n\n") // how long a client waits before reconnecting
	return &orchestratorapi.GetRunEventsOKTextEventStream{Data: es}, nil
}

func (s *Service) eventPage(ctx context.Context, r *store.Run, after int64, limit int) (*orchestratorapi.RunEventPage, error) {
	evs, err := store.ListEvents(ctx, s.db.DB, r.ID, after, limit)
	if err != nil {
		return nil, err
	}
	page := &orchestratorapi.RunEventPage{Events: make([]orchestratorapi.RunEvent, 0, len(evs))}
	for _, e := range evs {
		page.Events = append(page.Events, eventToAPI(e))
		if isTerminalEvent(e.Type) {
			page.Terminal = true
		}
	}
	if len(evs) > 0 {
		page.NextAfter = orchestratorapi.NewOptInt64(evs[len(evs)-1].Seq)
	} else {
		page.NextAfter = orchestratorapi.NewOptInt64(after)
	}
	return page, nil
}

func eventToAPI(e store.Event) orchestratorapi.RunEvent {
	data := orchestratorapi.RunEventData{}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.Data), &m); err == nil {
		for k, v := range m {
			data[k] = jx.Raw(v)
		}
	}
	return orchestratorapi.RunEvent{RunID: orchestratorapi.RunId(e.RunID), Seq: e.Seq, Type: e.Type, Data: data, Time: e.Time}
}

// eventStream is a run's SSE stream: every event with seq > after, replayed from
// storage and then following the hub, until the terminal event, the client leaving, or
// an error. It is read by the goroutine that writes the response (ogen copies it to the
// connection, which flushes after every write): Read blocks until there is something to
// send, so there is no goroutine or pipe per subscriber in between.
type eventStream struct {
	s   *Service
	ctx context.Context
	run *store.Run
	sub interface {
		Since(int64) ([]store.Event, <-chan struct{}, bool)
		Close()
	}
	after     int64
	keepalive *time.Ticker
	buf       bytes.Buffer // formatted, not yet read
	ended     bool         // the terminal event is in buf
	closeOnce sync.Once
}

// Read implements io.Reader.
func (es *eventStream) Read(p []byte) (int, error) {
	for es.buf.Len() == 0 {
		if es.ended {
			return 0, io.EOF
		}
		if err := es.fill(); err != nil {
			return 0, err
		}
	}
	return es.buf.Read(p)
}

// fill formats the events after es.after into es.buf, waiting for the next when there
// are none yet (or writing a keepalive comment when the wait is long).
func (es *eventStream) fill() error {
	for {
		evs, changed, covered := es.sub.Since(es.after)
		if !covered {
			var err error
			if evs, err = store.ListEvents(es.ctx, es.s.db.DB, es.run.ID, es.after, 500); err != nil {
				return err
			}
			if len(evs) == 500 {
				changed = closedChan // more to read from storage
			}
		}
		for _, e := range evs {
			if e.Seq <= es.after {
				continue
			}
			writeSSE(&es.buf, e)
			es.after = e.Seq
			if isTerminalEvent(e.Type) {
				es.ended = true
				return nil
			}
		}
		if es.buf.Len() > 0 {
			return nil
		}
		select {
		case <-changed:
		case <-es.keepalive.C:
			es.buf.WriteString(": keepalive\n\n")
			return nil
		case <-es.ctx.Done():
			return es.ctx.Err()
		}
	}
}

// Close implements io.Closer (ogen closes the stream when the response ends).
func (es *eventStream) Close() error {
	es.closeOnce.Do(func() {
		es.keepalive.Stop()
		es.sub.Close()
		es.s.metrics.sseSubscribers.Dec()
	})
	return nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// writeSSE writes one event: id is the seq, event the type, data one JSON line.
func writeSSE(w *bytes.Buffer, e store.Event) {
	w.WriteString("id: ")
	w.WriteString(strconv.FormatInt(e.Seq, 10))
	w.WriteString("\nevent: ")
	w.WriteString(e.Type)
	w.WriteString("\ndata: ")
	w.WriteString(`{"run_id":"`)
	w.WriteString(e.RunID)
	w.WriteString(`","seq":`)
	w.WriteString(strconv.FormatInt(e.Seq, 10))
	w.WriteString(`,"type":"`)
	w.WriteString(e.Type)
	w.WriteString(`","time":"`)
	w.WriteString(e.Time.Format(time.RFC3339Nano))
	w.WriteString(`","data":`)
	w.WriteString(compactLine(e.Data))
	w.WriteString("}\n\n")
}

// compactLine keeps an event's data on one SSE data line.
func compactLine(data string) string {
	if !strings.ContainsAny(data, "\r\n") {
		return data
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(data)); err != nil {
		return "{}"
	}
	return buf.String()
}
