package modelpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/httpserver"
)

// writeJSON writes an upstream's JSON answer unchanged.
func writeJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	// Sent now: what the call does after its answer (usage, audit, metrics, the access
	// log) is then off the client's critical path.
	_ = http.NewResponseController(w).Flush()
}

// relayStream serves a streamed chat completion: attempts (with retries and failover)
// until one produces its first event, then relays every event as it arrives, one write
// (and flush) per event, and ends with [DONE]. Usage comes from the upstream's usage
// chunk (requested with include_usage), relayed only if the client asked for it; without
// one, the gateway estimates it from what it relayed and marks it estimated. A stream
// that breaks after its first event ends with an error event and no [DONE].
// maxHeldEvents bounds the bytes of events held back to be written together.
const maxHeldEvents = 16 << 10

// heldEvents holds the buffers of events not yet written, one per stream while it is
// relayed: w.Write copies them, so a buffer is free again when the stream ends.
var heldEvents = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func (s *Service) relayStream(ctx context.Context, c *call, pc provider.Call, w http.ResponseWriter, promptEst int64, clientUsage bool) error {
	relay, err := s.router.Stream(ctx, pc)
	if err != nil {
		return c.fail(ctx, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	held := heldEvents.Get().(*[]byte)
	var (
		usage        provider.Usage
		contentBytes int
		buf          = (*held)[:0] // events not yet written
		writeErr     error
	)
	defer func() {
		if cap(buf) <= 4*maxHeldEvents { // one huge event's buffer is left to the GC
			*held = buf[:0]
			heldEvents.Put(held)
		}
	}()
	// Events are written (and flushed: the response is an event stream) as soon as no
	// further event is at hand; events that arrived together go out in one write.
	flush := func() {
		if writeErr == nil && len(buf) > 0 {
			_, writeErr = w.Write(buf)
		}
		buf = buf[:0]
	}
	emit := func(data []byte) {
		buf = append(buf, "data: "...)
		buf = append(buf, data...)
		buf = append(buf, "\n\n"...)
	}
	handle := func(data []byte) {
		info := provider.InspectChunk(data)
		contentBytes += info.ContentBytes
		if info.Usage.Present {
			usage = info.Usage
		}
		if !info.UsageOnly || clientUsage {
			emit(data)
		}
		if len(buf) >= maxHeldEvents || !relay.Ready() {
			flush()
		}
	}
	handle(relay.First)
	var streamErr error
	for writeErr == nil {
		data, err := relay.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			streamErr = err
			break
		}
		handle(data)
	}
	switch {
	case writeErr != nil:
		// The client went away; the upstream is not to blame.
		relay.Close(&provider.Error{Kind: provider.KindCanceled, Err: writeErr})
		c.detail.setError("client disconnected: " + writeErr.Error())
	case streamErr != nil:
		relay.Close(streamErr)
		c.detail.setError(streamErr.Error())
		if e, ok := provider.AsError(streamErr); !ok || e.Kind != provider.KindCanceled {
			emit(streamErrorEvent(ctx, streamErr))
		}
	default:
		relay.Close(nil)
		emit([]byte("[DONE]"))
	}
	flush()
	estimated := !usage.Present
	if estimated {
		usage = provider.Usage{PromptTokens: promptEst, CompletionTokens: provider.EstimateTokens(contentBytes)}
	}
	outcome := audit.OutcomeSuccess
	if writeErr != nil || streamErr != nil {
		outcome = audit.OutcomeFailure
	}
	c.finish(ctx, relay.Served, usage, estimated, outcome)
	return nil
}

// streamErrorEvent is the event that ends a broken stream, in the shape OpenAI SDKs
// recognise ({"error": {...}}), with the problem's code and the request id.
func streamErrorEvent(ctx context.Context, err error) []byte {
	p := httpserver.ProblemFor(ctx, upstreamProblem(err))
	out, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message":    "the model stream broke: " + p.Detail,
		"type":       p.Code,
		"code":       p.Code,
		"param":      nil,
		"request_id": p.RequestID,
	}})
	return out
}
