package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// Reconnection backoff of `runs watch`.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// watchRun prints the run's events after seq after until its terminal event, then its final
// status; see `runs watch --help`.
func watchRun(ctx context.Context, g *globals, e *endpoints, id orchestratorapi.RunId, after int64, f watchFlags) error {
	if f.idleTimeout <= 0 || f.reconnectTimeout <= 0 {
		return errors.New("--idle-timeout and --reconnect-timeout: want positive durations")
	}
	final := g.stdout
	if f.json {
		final = g.stderr // keep stdout JSON lines only
	}
	c, err := e.orchestratorClient()
	if err != nil {
		return err
	}
	// Fails fast on a wrong id or an unreachable server, and ends at once when the run
	// ended at or before after (its stream would never send another event).
	r, err := c.GetRun(ctx, orchestratorapi.GetRunParams{RunID: id})
	if err != nil {
		return problemError(err)
	}
	if terminalStatus(r.Status) && r.LastSeq <= after {
		printFinal(final, r.RunID, r.Status, r.Error)
		return exitFor(r.Status)
	}
	sc, err := e.streamClient()
	if err != nil {
		return err
	}
	w := &watcher{
		client: sc, runID: id, last: after, out: g.stdout, notices: g.stderr, json: f.json,
		idleTimeout: f.idleTimeout, reconnectTimeout: f.reconnectTimeout,
		minBackoff: watchMinBackoff, maxBackoff: watchMaxBackoff,
	}
	status, runErr, err := w.run(ctx)
	if err != nil {
		return err
	}
	printFinal(final, id, status, runErr)
	return exitFor(status)
}

// watcher follows one run's event stream across reconnections. It prints each seq exactly
// once and in order: an event at or below the last printed seq is skipped, and an event
// past last+1 means the stream lost some, so it reconnects from last.
type watcher struct {
	client           *orchestratorapi.Client
	runID            orchestratorapi.RunId
	last             int64
	out, notices     io.Writer
	json             bool
	idleTimeout      time.Duration
	reconnectTimeout time.Duration
	minBackoff       time.Duration
	maxBackoff       time.Duration
}

// permanentError is a stream failure that reconnecting cannot mend.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// run streams until the terminal event and returns the run's final status.
func (w *watcher) run(ctx context.Context) (orchestratorapi.RunStatus, orchestratorapi.OptRunError, error) {
	backoff := w.minBackoff
	var lostSince time.Time
	for {
		before := w.last
		term, err := w.stream(ctx)
		if term != nil {
			return term.status, term.err, nil
		}
		if ctx.Err() != nil {
			return "", orchestratorapi.OptRunError{}, ctx.Err()
		}
		if perm := (permanentError{}); errors.As(err, &perm) || !retryable(err) {
			return "", orchestratorapi.OptRunError{}, problemError(err)
		}
		now := time.Now()
		if w.last > before || lostSince.IsZero() {
			lostSince, backoff = now, w.minBackoff
		}
		left := w.reconnectTimeout - now.Sub(lostSince)
		if left <= 0 {
			return "", orchestratorapi.OptRunError{}, fmt.Errorf("give up on the events of run %s after #%d: no event for %s: %w", w.runID, w.last, w.reconnectTimeout, problemError(err))
		}
		wait := min(backoff, left)
		fmt.Fprintf(w.notices, "agentos: events of run %s interrupted after #%d (%v); reconnecting in %s\n", w.runID, w.last, problemError(err), wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", orchestratorapi.OptRunError{}, ctx.Err()
		}
		backoff = min(2*backoff, w.maxBackoff)
	}
}

// terminal is how the run ended, from its terminal event.
type terminal struct {
	status orchestratorapi.RunStatus
	err    orchestratorapi.OptRunError
}

// stream makes one connection and prints events until the terminal event (returned) or
// the connection ends (the error says why).
func (w *watcher) stream(ctx context.Context) (*terminal, error) {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	body := &detachedBody{}
	res, err := w.client.GetRunEvents(context.WithValue(connCtx, detachedBodyKey{}, body), orchestratorapi.GetRunEventsParams{
		RunID:       w.runID,
		LastEventID: orchestratorapi.NewOptString(strconv.FormatInt(w.last, 10)),
	})
	if body.rc != nil {
		defer body.rc.Close()
	}
	if err != nil {
		return nil, err
	}
	sse, ok := res.(*orchestratorapi.GetRunEventsOKTextEventStream)
	if !ok {
		return nil, permanentError{fmt.Errorf("get run events: want an event stream, got %T", res)}
	}
	var src io.Reader = sse.Data
	if body.rc != nil {
		src = body.rc
	}
	idle := time.AfterFunc(w.idleTimeout, cancel)
	defer idle.Stop()
	events := newSSEReader(&idleReader{r: src, timer: idle, idle: w.idleTimeout})
	for {
		ev, err := events.Next()
		switch {
		case err == nil:
		case ctx.Err() == nil && connCtx.Err() != nil:
			return nil, fmt.Errorf("nothing received for %s", w.idleTimeout)
		case errors.Is(err, io.EOF):
			return nil, errors.New("the stream ended before the run did")
		default:
			return nil, err
		}
		seq, err := strconv.ParseInt(ev.ID, 10, 64)
		if !ev.HasID || err != nil {
			return nil, permanentError{fmt.Errorf("event %q has no seq as its id (id %q)", ev.Event, ev.ID)}
		}
		switch {
		case seq <= w.last:
			continue // already printed before a reconnection
		case seq > w.last+1:
			return nil, fmt.Errorf("event #%d arrived after #%d: events are missing", seq, w.last)
		}
		if err := w.print(seq, ev); err != nil {
			return nil, permanentError{err}
		}
		w.last = seq
		if status, ok := strings.CutPrefix(ev.Event, "run."); ok && terminalStatus(orchestratorapi.RunStatus(status)) {
			return &terminal{status: orchestratorapi.RunStatus(status), err: eventRunError(ev.Data)}, nil
		}
	}
}

// wireEvent is the JSON of a RunEvent as the stream's data lines carry it.
type wireEvent struct {
	Data map[string]json.RawMessage `json:"data"`
}

func (w *watcher) print(seq int64, ev sseEvent) error {
	var err error
	if w.json {
		_, err = fmt.Fprintln(w.out, ev.Data)
	} else {
		line := fmt.Sprintf("#%d  %s  %s", seq, ev.Event, eventSummary(ev))
		_, err = fmt.Fprintln(w.out, strings.TrimRight(line, " "))
	}
	return err
}

// eventSummary is the one-line human form of an event's data: the text of model output,
// else its fields as key=value.
func eventSummary(ev sseEvent) string {
	var we wireEvent
	if err := json.Unmarshal([]byte(ev.Data), &we); err != nil {
		return oneLine(ev.Data)
	}
	if strings.HasPrefix(ev.Event, "model.") {
		for _, k := range []string{"text", "delta", "content"} {
			var s string
			if json.Unmarshal(we.Data[k], &s) == nil && s != "" {
				return oneLine(s)
			}
		}
	}
	keys := make([]string, 0, len(we.Data))
	for k := range we.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := string(we.Data[k])
		var s string
		if json.Unmarshal(we.Data[k], &s) == nil {
			v = s
		}
		parts = append(parts, k+"="+v)
	}
	const maxRunes = 300
	s := oneLine(strings.Join(parts, " "))
	if r := []rune(s); len(r) > maxRunes {
		s = string(r[:maxRunes]) + "…"
	}
	return s
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// eventRunError reads the error of a run.failed (or other terminal) event's data.
func eventRunError(data string) orchestratorapi.OptRunError {
	var we struct {
		Data struct {
			Error *orchestratorapi.RunError `json:"error"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(data), &we) != nil || we.Data.Error == nil {
		return orchestratorapi.OptRunError{}
	}
	return orchestratorapi.NewOptRunError(*we.Data.Error)
}

// retryable reports whether reconnecting may help: anything but a problem answer that
// says the request itself is wrong (bad id, credentials, unknown run).
func retryable(err error) bool {
	var p *orchestratorapi.ProblemStatusCode
	if errors.As(err, &p) {
		return p.StatusCode >= 500 || p.StatusCode == http.StatusRequestTimeout || p.StatusCode == http.StatusTooManyRequests
	}
	return true
}

// idleReader re-arms timer (which ends the connection) whenever bytes arrive.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

// detachedBody receives the body of an event-stream response; see detachingClient.
type detachedBody struct{ rc io.ReadCloser }

type detachedBodyKey struct{}

// detachingClient hands the body of a text/event-stream response to the caller, through
// the *detachedBody in the request's context, and gives the generated decoder an empty
// one. The generated client reads a binary response whole (ogen decodes it with
// io.ReadAll) before it returns, which would show no event until the stream ended and
// lose them all when the connection drops. Everything else about the request (the URL,
// the parameters, Last-Event-ID, credentials, problem answers) stays the generated
// client's.
type detachingClient struct{ c *http.Client }

func (d detachingClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(r)
	if err != nil {
		return nil, err
	}
	slot, ok := r.Context().Value(detachedBodyKey{}).(*detachedBody)
	if !ok || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	if ct, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && ct == "text/event-stream" {
		slot.rc, resp.Body = resp.Body, http.NoBody
	}
	return resp, nil
}

// streamClient is an orchestrator client for event streams: no overall request timeout
// (the per-request timeout bounds the wait for the response headers) and the body
// detached as detachingClient describes.
func (e *endpoints) streamClient() (*orchestratorapi.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = e.timeout
	hc := &http.Client{Transport: tr}
	return orchestratorapi.NewClient(e.orchestrator, credentials{e}, orchestratorapi.WithClient(detachingClient{hc}))
}

// longPollClient is an orchestrator client whose request timeout also covers a server-side
// wait of up to wait.
func (e *endpoints) longPollClient(wait time.Duration) (*orchestratorapi.Client, error) {
	return orchestratorapi.NewClient(e.orchestrator, credentials{e}, orchestratorapi.WithClient(&http.Client{Timeout: wait + e.timeout}))
}
