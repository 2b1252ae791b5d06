// Package usage records Model Policy's token usage per tenant, model and principal, in
// minute buckets, off the request path: a Recorder queues records and quota settlements
// and writes them in batches; Query reads them back by window.
package usage

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/modelpolicy/quota"
)

// Record is the usage of one call.
type Record struct {
	Tenant    string
	Model     string
	Principal string
	Time      time.Time
	Prompt    int64
	// Completion is 0 for embeddings.
	Completion int64
	Total      int64
	// Estimated is true when the upstream reported no usage and the gateway counted.
	Estimated bool
}

// row is the model_usage table.
type row struct {
	bun.BaseModel `bun:"table:model_usage,alias:u"`

	TenantID          string `bun:"tenant_id,pk"`
	Minute            int64  `bun:"minute,pk"`
	Model             string `bun:"model,pk"`
	Principal         string `bun:"principal,pk"`
	Requests          int64  `bun:"requests"`
	PromptTokens      int64  `bun:"prompt_tokens"`
	CompletionTokens  int64  `bun:"completion_tokens"`
	TotalTokens       int64  `bun:"total_tokens"`
	EstimatedRequests int64  `bun:"estimated_requests"`
}

type rowKey struct {
	tenant, model, principal string
	minute                   int64
}

// Options tune a Recorder.
type Options struct {
	// Interval is the longest a record waits before being written (default 50ms).
	Interval time.Duration
	// MaxBatch is the most queued items written at once (default 1024).
	MaxBatch int
	// Queue bounds waiting items (default 16384); Add blocks when it is full.
	Queue  int
	Logger *slog.Logger
}

// Recorder writes usage records and quota adjustments in batches.
type Recorder struct {
	db     bun.IDB
	quotas quota.Store
	opts   Options
	ch     chan item

	closeOnce sync.Once
	done      chan struct{}
}

type item struct {
	rec *Record
	adj *quota.Adjustment
}

// NewRecorder starts a Recorder writing usage to db and adjustments to quotas.
func NewRecorder(db bun.IDB, quotas quota.Store, opts Options) *Recorder {
	if opts.Interval <= 0 {
		opts.Interval = 50 * time.Millisecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.Queue <= 0 {
		opts.Queue = 16384
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{db: db, quotas: quotas, opts: opts, ch: make(chan item, opts.Queue), done: make(chan struct{})}
	go r.run()
	return r
}

// Add queues a usage record.
func (r *Recorder) Add(rec Record) { r.ch <- item{rec: &rec} }

// Adjust queues a quota adjustment.
func (r *Recorder) Adjust(a quota.Adjustment) { r.ch <- item{adj: &a} }

// Close writes what is queued and stops. Add and Adjust must not be called after.
func (r *Recorder) Close() {
	r.closeOnce.Do(func() { close(r.ch) })
	<-r.done
}

func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]item, 0, r.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if len(batch) == 0 {
			it, open := <-r.ch
			if !open {
				return
			}
			batch = append(batch, it)
			timer.Reset(r.opts.Interval)
			continue
		}
		select {
		case it, open := <-r.ch:
			if !open {
				r.flush(batch)
				return
			}
			batch = append(batch, it)
			if len(batch) < r.opts.MaxBatch {
				continue
			}
		case <-timer.C:
		}
		timer.Stop()
		r.flush(batch)
		batch = batch[:0]
	}
}

func (r *Recorder) flush(batch []item) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var adj []quota.Adjustment
	sums := map[rowKey]*row{}
	for _, it := range batch {
		if it.adj != nil {
			adj = append(adj, *it.adj)
			continue
		}
		rec := it.rec
		k := rowKey{rec.Tenant, rec.Model, rec.Principal, rec.Time.Unix() / 60 * 60}
		s, ok := sums[k]
		if !ok {
			s = &row{TenantID: k.tenant, Minute: k.minute, Model: k.model, Principal: k.principal}
			sums[k] = s
		}
		s.Requests++
		s.PromptTokens += rec.Prompt
		s.CompletionTokens += rec.Completion
		s.TotalTokens += rec.Total
		if rec.Estimated {
			s.EstimatedRequests++
		}
	}
	if len(adj) > 0 {
		if err := r.quotas.Adjust(ctx, adj); err != nil {
			r.opts.Logger.Error("settle quota reservations", "adjustments", len(adj), "error", err)
		}
	}
	if len(sums) == 0 {
		return
	}
	rows := make([]row, 0, len(sums))
	for _, s := range sums {
		rows = append(rows, *s)
	}
	// A fixed order keeps concurrent writers (other processes) from deadlocking.
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.Minute, b.Minute), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Principal, b.Principal))
	})
	_, err := r.db.NewInsert().Model(&rows).
		On("CONFLICT (tenant_id, minute, model, principal) DO UPDATE").
		Set("requests = u.requests + excluded.requests").
		Set("prompt_tokens = u.prompt_tokens + excluded.prompt_tokens").
		Set("completion_tokens = u.completion_tokens + excluded.completion_tokens").
		Set("total_tokens = u.total_tokens + excluded.total_tokens").
		Set("estimated_requests = u.estimated_requests + excluded.estimated_requests").
		Exec(ctx)
	if err != nil {
		r.opts.Logger.Error("record model usage", "rows", len(rows), "error", err)
	}
}

// Windows a query may aggregate by.
const (
	WindowMinute = "minute"
	WindowHour   = "hour"
	WindowDay    = "day"
)

// WindowSeconds returns a window's length.
func WindowSeconds(window string) (int64, error) {
	switch window {
	case WindowMinute:
		return 60, nil
	case WindowHour:
		return 3600, nil
	case WindowDay:
		return 86400, nil
	}
	return 0, fmt.Errorf("unknown window %q", window)
}

// Bucket is the usage of one window, model and principal.
type Bucket struct {
	Start             time.Time
	Model             string
	Principal         string
	Requests          int64
	PromptTokens      int64
	CompletionTokens  int64
	TotalTokens       int64
	EstimatedRequests int64
}

// Filter narrows a query.
type Filter struct {
	Tenant    string
	Since     time.Time
	Until     time.Time
	Model     string
	Principal string
}

// Query returns the tenant's usage between Since (inclusive) and Until (exclusive),
// minute buckets aggregated by window, ordered by window start, model and principal.
func Query(ctx context.Context, db bun.IDB, window string, f Filter) ([]Bucket, error) {
	secs, err := WindowSeconds(window)
	if err != nil {
		return nil, err
	}
	var rows []row
	q := db.NewSelect().Model(&rows).
		Where("tenant_id = ?", f.Tenant).
		Where("minute >= ?", f.Since.Unix()/60*60).
		Where("minute < ?", f.Until.Unix())
	if f.Model != "" {
		q = q.Where("model = ?", f.Model)
	}
	if f.Principal != "" {
		q = q.Where("principal = ?", f.Principal)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("query model usage: %w", err)
	}
	type key struct {
		start            int64
		model, principal string
	}
	agg := map[key]*Bucket{}
	for _, r := range rows {
		k := key{r.Minute / secs * secs, r.Model, r.Principal}
		b, ok := agg[k]
		if !ok {
			b = &Bucket{Start: time.Unix(k.start, 0).UTC(), Model: r.Model, Principal: r.Principal}
			agg[k] = b
		}
		b.Requests += r.Requests
		b.PromptTokens += r.PromptTokens
		b.CompletionTokens += r.CompletionTokens
		b.TotalTokens += r.TotalTokens
		b.EstimatedRequests += r.EstimatedRequests
	}
	out := make([]Bucket, 0, len(agg))
	for _, b := range agg {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b Bucket) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Principal, b.Principal))
	})
	return out, nil
}
