package orchestrator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
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
	pr, pw := io.Pipe()
	sub := s.hub.Subscribe(r.ID, r.LastSeq)
	s.metrics.sseSubscribers.Inc()
	go func() {
		defer s.metrics.sseSubscribers.Dec()
		defer sub.Close()
		err := s.streamEvents(ctx, r, sub, after, pw)
		_ = pw.CloseWithError(err)
	}()
	return &orchestratorapi.GetRunEventsOKTextEventStream{Data: pr}, nil
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

// streamEvents writes every event with seq > after as SSE, replaying from storage and
// then following the hub, until the terminal event, the client leaving, or an error.
func (s *Service) streamEvents(ctx context.Context, r *store.Run, sub interface {
	Since(int64) ([]store.Event, <-chan struct{}, bool)
}, after int64, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 8<<10)
	keepalive := time.NewTicker(s.cfg.SSEKeepalive)
	defer keepalive.Stop()
	// Tell the client how long to wait before reconnecting.
	if _, err := bw.WriteString("retry: 1000\n\n"); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	for {
		evs, changed, covered := sub.Since(after)
		if !covered {
			var err error
			if evs, err = store.ListEvents(ctx, s.db.DB, r.ID, after, 500); err != nil {
				return err
			}
			if len(evs) == 500 {
				changed = closedChan // more to read from storage
			}
		}
		for _, e := range evs {
			if e.Seq <= after {
				continue
			}
			writeSSE(bw, e)
			after = e.Seq
			if isTerminalEvent(e.Type) {
				return bw.Flush()
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-keepalive.C:
			if _, err := bw.WriteString(": keepalive\n\n"); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// writeSSE writes one event: id is the seq, event the type, data one JSON line.
func writeSSE(w *bufio.Writer, e store.Event) {
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
