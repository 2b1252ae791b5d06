package stream

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nexixai/agentos/impl/orchestrator/store"
)

// Listen relays PostgreSQL notifications of other processes' writes to the hub until ctx
// ends, reconnecting after errors. Writes of this process notify the hub directly: their
// notifications come back marked with the hub's Origin and are skipped (each would cost
// every subscriber of the run a read, and every waiting lease request a claim).
func (h *Hub) Listen(ctx context.Context, url string, logger *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.listenOnce(ctx, url)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("postgres listener disconnected; reconnecting", "error", err, "backoff", backoff.String())
		// Wake everyone: something may have been missed while disconnected.
		h.NotifyQueue()
		h.notifyAll()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (h *Hub) listenOnce(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{store.NotifyEvents, store.NotifyQueue} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		ids, own := h.parsePayload(n.Payload)
		switch {
		case own:
		case n.Channel == store.NotifyEvents:
			for _, id := range ids {
				h.Notify(id)
			}
		case n.Channel == store.NotifyQueue:
			h.NotifyQueue()
		}
	}
}

func (h *Hub) notifyAll() {
	h.mu.Lock()
	feeds := make([]*feed, 0, len(h.feeds))
	for _, f := range h.feeds {
		feeds = append(feeds, f)
	}
	h.mu.Unlock()
	for _, f := range feeds {
		f.kickFetch()
	}
}

// parsePayload reads a notification's payload: the sender's origin (absent from older
// senders), then run ids. own reports that this process sent it.
func (h *Hub) parsePayload(payload string) (ids []string, own bool) {
	ids = strings.Fields(payload)
	if len(ids) > 0 && strings.HasPrefix(ids[0], originPrefix) {
		if ids[0] == h.Origin {
			return nil, true
		}
		ids = ids[1:]
	}
	return ids, false
}
