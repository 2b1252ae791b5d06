// Package stream fans a run's event log out to live subscribers (SSE streams, :wait
// calls) and wakes lease long-polls. Events this process commits are handed to the
// run's feed as they are (Publish); otherwise a notification only says "run X has new
// events" (a write of another process, through PostgreSQL LISTEN/NOTIFY, or a local
// write whose events were not at hand) and one read from storage serves every
// subscriber.
package stream

import (
	"cmp"
	"context"
	"crypto/rand"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/orchestrator/store"
)

const (
	originPrefix = "@"
	cacheSize    = 4096
	fetchBatch   = 1000
	// pollEvery re-reads a watched run even without a notification, so a lost one (a
	// dropped LISTEN connection) delays delivery instead of stalling it.
	pollEvery = time.Second
)

// Hub tracks the runs that have subscribers.
type Hub struct {
	// Origin marks this process's PostgreSQL notifications (see Listen): originPrefix
	// and random letters, which no run id starts with.
	Origin string
	db     bun.IDB
	logger *slog.Logger

	mu    sync.Mutex
	feeds map[string]*feed
	queue chan struct{} // closed and replaced when runs are queued
	subs  int
}

// NewHub returns a hub reading events from db.
func NewHub(db bun.IDB, logger *slog.Logger) *Hub {
	return &Hub{Origin: originPrefix + rand.Text()[:12], db: db, logger: logger, feeds: map[string]*feed{}, queue: make(chan struct{})}
}

// Notify says run has new events.
func (h *Hub) Notify(runID string) {
	h.mu.Lock()
	f := h.feeds[runID]
	h.mu.Unlock()
	if f != nil {
		f.kickFetch()
	}
}

// NotifyQueue says runs were queued.
func (h *Hub) NotifyQueue() {
	h.mu.Lock()
	close(h.queue)
	h.queue = make(chan struct{})
	h.mu.Unlock()
}

// QueueChanged returns a channel closed at the next NotifyQueue.
func (h *Hub) QueueChanged() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queue
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs
}

// Sub is one subscription to a run's events.
type Sub struct {
	hub  *Hub
	feed *feed
	once sync.Once
}

// Subscribe starts following run, whose newest event so far has seq lastSeq as the
// caller read it before this call; events that landed in between are read from storage.
func (h *Hub) Subscribe(runID string, lastSeq int64) *Sub {
	sub := h.Watch(runID)
	sub.anchor(lastSeq, true)
	return sub
}

// Watch starts following run before the caller reads it. Every event committed from
// now on reaches the subscription, so once the caller has read the run it calls Anchor
// with the newest seq it found, and nothing needs reading from storage.
func (h *Hub) Watch(runID string) *Sub {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.feeds[runID]
	if f == nil {
		f = newFeed(h, runID)
		h.feeds[runID] = f
	}
	f.refs++
	h.subs++
	return &Sub{hub: h, feed: f}
}

// Anchor tells a subscription from Watch the newest seq its caller read; Since can be
// called from then on.
func (s *Sub) Anchor(lastSeq int64) { s.anchor(lastSeq, false) }

func (s *Sub) anchor(lastSeq int64, fetch bool) {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.anchored {
		if lastSeq > f.last { // the caller read events the feed has not seen yet
			f.kickFetch()
		}
		return
	}
	f.anchored = true
	f.base, f.last = lastSeq, lastSeq
	pending := f.pending
	f.pending = nil
	if !f.add(pending) { // what was published while unanchored does not follow lastSeq
		fetch = true
	}
	go f.run(fetch)
}

// Final returns the run as the commit that wrote its terminal event (seq) left it, when
// this process made that commit; nil otherwise.
func (s *Sub) Final(seq int64) *store.Run {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.final != nil && f.final.LastSeq == seq {
		return f.final
	}
	return nil
}

// Close ends the subscription.
func (s *Sub) Close() {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		defer h.mu.Unlock()
		h.subs--
		s.feed.refs--
		if s.feed.refs == 0 {
			delete(h.feeds, s.feed.runID)
			close(s.feed.stop)
		}
	})
}

// Since returns the cached events with seq > after and a channel closed when more arrive.
// covered is false when the cache no longer (or not yet) holds every event after `after`;
// the caller then reads them from storage.
func (s *Sub) Since(after int64) (events []store.Event, changed <-chan struct{}, covered bool) {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if after < f.base {
		return nil, f.changed, false
	}
	// Every subscriber of a run wakes at once when its events arrive: the lock is held
	// for a binary search, and the cached events are shared, not copied (f.events only
	// grows past their end or is replaced, so the slice returned never changes).
	i, _ := slices.BinarySearchFunc(f.events, after, func(e store.Event, seq int64) int { return cmp.Compare(e.Seq, seq+1) })
	n := len(f.events)
	return f.events[i:n:n], f.changed, true
}

// feed holds the recent events of one watched run. It is anchored once a subscriber
// knows where the run stood (Subscribe, Anchor); until then what is published waits in
// pending, and notifications wait in kick.
type feed struct {
	hub   *Hub
	runID string

	mu       sync.Mutex
	anchored bool
	pending  []store.Event // published before the feed was anchored
	base     int64         // the cache holds every event with seq > base
	events   []store.Event // ascending seq, all > base
	last     int64         // highest seq fetched
	final    *store.Run    // the run as this process ended it (PublishRun)
	changed  chan struct{}

	refs int // guarded by hub.mu
	kick chan struct{}
	stop chan struct{}
}

func newFeed(h *Hub, runID string) *feed {
	return &feed{hub: h, runID: runID, changed: make(chan struct{}), kick: make(chan struct{}, 1), stop: make(chan struct{})}
}

func (f *feed) kickFetch() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// run reads the run's new events from storage when notified, and every pollEvery;
// first, if fetch is set (events that landed between the caller's read and Subscribe).
func (f *feed) run(fetch bool) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	if fetch {
		f.fetch()
	}
	for {
		select {
		case <-f.stop:
			return
		case <-f.kick:
		case <-t.C:
		}
		f.fetch()
	}
}

func (f *feed) fetch() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		f.mu.Lock()
		after := f.last
		f.mu.Unlock()
		evs, err := store.ListEvents(ctx, f.hub.db, f.runID, after, fetchBatch)
		if err != nil {
			f.hub.logger.Warn("read run events", "run_id", f.runID, "error", err)
			return
		}
		if len(evs) == 0 {
			return
		}
		f.mu.Lock()
		f.add(evs)
		f.mu.Unlock()
		if len(evs) < fetchBatch {
			return
		}
	}
}

// add appends the events that continue the cache (seq f.last+1, then the next…),
// skipping those it holds already, and wakes the subscribers; f.mu is held. It reports
// whether evs left no gap: false when the first new one does not follow f.last.
func (f *feed) add(evs []store.Event) bool {
	added := false
	for _, e := range evs {
		switch {
		case e.Seq <= f.last:
			continue
		case e.Seq != f.last+1:
			f.signal(added)
			return false
		}
		f.events = append(f.events, e)
		f.last, added = e.Seq, true
	}
	f.signal(added)
	return true
}

// signal trims the cache and wakes the subscribers if events were added; f.mu is held.
func (f *feed) signal(added bool) {
	if !added {
		return
	}
	if over := len(f.events) - cacheSize; over > 0 {
		f.base = f.events[over-1].Seq
		f.events = append([]store.Event(nil), f.events[over:]...)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// Publish hands events this process has just committed for run (in seq order) to the
// run's subscribers, with no read from storage. Events that do not follow what the
// feed holds (another commit's landed first, or were written elsewhere) make it read
// from storage instead, as Notify does.
func (h *Hub) Publish(runID string, evs []store.Event) {
	h.publish(runID, evs, nil)
}

// PublishRun is Publish for the events r.Written that a commit of this process wrote;
// when that commit ended the run, r is kept for the subscribers as the run's final state
// (Final), sparing them a read.
func (h *Hub) PublishRun(r *store.Run) {
	var final *store.Run
	if store.Terminal(r.Status) && len(r.Written) > 0 {
		cp := *r
		cp.Written = nil
		final = &cp
	}
	h.publish(r.ID, r.Written, final)
}

func (h *Hub) publish(runID string, evs []store.Event, final *store.Run) {
	h.mu.Lock()
	f := h.feeds[runID]
	h.mu.Unlock()
	if f == nil {
		return
	}
	f.mu.Lock()
	if final != nil {
		f.final = final
	}
	if !f.anchored {
		f.pending = append(f.pending, evs...)
		f.mu.Unlock()
		if len(evs) == 0 {
			f.kickFetch()
		}
		return
	}
	ok := f.add(evs)
	f.mu.Unlock()
	if !ok || len(evs) == 0 {
		f.kickFetch()
	}
}
