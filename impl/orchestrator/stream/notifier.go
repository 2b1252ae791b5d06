package stream

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/orchestrator/store"
)

// Notifier tells other orchestrator processes (through PostgreSQL NOTIFY) which runs
// have new events and that runs were queued. Notifications are sent after commit and
// coalesced every few milliseconds: PostgreSQL serialises the commits of every
// transaction that issued NOTIFY, so notifying inside each write would make all writes
// queue behind one global lock.
type Notifier struct {
	db     bun.IDB
	origin string // first in every payload (Hub.Origin)
	logger *slog.Logger
	every  time.Duration

	mu     sync.Mutex
	runs   map[string]struct{}
	queue  bool
	wake   chan struct{}
	closed bool
}

// NewNotifier returns a notifier sending on db every interval at most, its payloads
// marked with origin (the process's Hub.Origin, so that its own listener skips them).
func NewNotifier(db bun.IDB, interval time.Duration, origin string, logger *slog.Logger) *Notifier {
	return &Notifier{db: db, origin: origin, logger: logger, every: interval, runs: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

// Run says run has new events.
func (n *Notifier) Run(runID string) {
	n.mu.Lock()
	n.runs[runID] = struct{}{}
	n.mu.Unlock()
	n.poke()
}

// Queue says runs were queued.
func (n *Notifier) Queue() {
	n.mu.Lock()
	n.queue = true
	n.mu.Unlock()
	n.poke()
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Send delivers pending notifications until ctx ends.
func (n *Notifier) Send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			n.flush(context.WithoutCancel(ctx))
			return
		case <-n.wake:
		}
		n.flush(ctx)
		select { // coalesce what arrives meanwhile
		case <-ctx.Done():
		case <-time.After(n.every):
		}
	}
}

// maxPayload stays under PostgreSQL's 8000-byte NOTIFY payload limit.
const maxPayload = 7900

func (n *Notifier) flush(ctx context.Context) {
	n.mu.Lock()
	runs, queue := n.runs, n.queue
	n.runs, n.queue = map[string]struct{}{}, false
	n.mu.Unlock()
	var payloads []string
	var b strings.Builder
	b.WriteString(n.origin)
	for id := range runs {
		if b.Len()+len(id)+1 > maxPayload {
			payloads = append(payloads, b.String())
			b.Reset()
			b.WriteString(n.origin)
		}
		b.WriteByte(' ')
		b.WriteString(id)
	}
	if len(runs) > 0 {
		payloads = append(payloads, b.String())
	}
	if len(payloads) == 0 && !queue {
		return
	}
	// One statement: a transaction without writes does not wait for a WAL flush.
	var sql strings.Builder
	args := make([]any, 0, len(payloads)+1)
	sql.WriteString("SELECT 1")
	for _, p := range payloads {
		sql.WriteString(", pg_notify('" + store.NotifyEvents + "', ?)")
		args = append(args, p)
	}
	if queue {
		sql.WriteString(", pg_notify('" + store.NotifyQueue + "', ?)")
		args = append(args, n.origin)
	}
	if _, err := n.db.NewRaw(sql.String(), args...).Exec(ctx); err != nil && ctx.Err() == nil {
		n.logger.Warn("notify other orchestrators", "error", err)
	}
}
