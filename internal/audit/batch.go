package audit

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/nexixai/agentos/internal/db"
)

// AppendBatch appends recs, in order, to their tenants' chains inside tx: per tenant it
// locks the chain head once, inserts the records in one statement and moves the head
// once. It returns the records as stored (Seq, PrevHash, Hash and Time set), in the
// order given. The chains it writes are exactly those Append would write one by one.
func AppendBatch(ctx context.Context, tx bun.Tx, recs []Record) ([]Record, error) {
	out := make([]Record, len(recs))
	details := make([]string, len(recs))
	byTenant := map[string][]int{}
	var tenants []string
	now := time.Now()
	for i, rec := range recs {
		if err := rec.validate(); err != nil {
			return nil, fmt.Errorf("append audit record %d: %w", i, err)
		}
		if rec.Time.IsZero() {
			rec.Time = now
		}
		rec.Time = rec.Time.UTC().Truncate(time.Microsecond)
		d, err := rec.canonicalDetail()
		if err != nil {
			return nil, fmt.Errorf("append audit record %d: %w", i, err)
		}
		out[i], details[i] = rec, d
		if _, ok := byTenant[rec.TenantID]; !ok {
			tenants = append(tenants, rec.TenantID)
		}
		byTenant[rec.TenantID] = append(byTenant[rec.TenantID], i)
	}
	// Lock heads in a fixed order so concurrent batches cannot deadlock.
	slices.Sort(tenants)
	pg := tx.Dialect().Name() == dialect.PG
	for _, tenantID := range tenants {
		head, err := lockHead(ctx, tx, pg, tenantID)
		if err != nil {
			return nil, err
		}
		idx := byTenant[tenantID]
		rows := make([]recordRow, 0, len(idx))
		size := 256
		for _, i := range idx {
			rec := &out[i]
			rec.Seq = head.Seq + 1
			rec.PrevHash = head.Hash
			rec.Hash = rec.hashWith(details[i])
			head.Seq, head.Hash = rec.Seq, rec.Hash
			rows = append(rows, recordRow{
				TenantID: rec.TenantID, Seq: rec.Seq, Time: rec.Time, Principal: rec.Principal,
				Action: rec.Action, Resource: rec.Resource, Outcome: rec.Outcome, RequestID: rec.RequestID,
				Detail: details[i], PrevHash: rec.PrevHash, Hash: rec.Hash,
			})
			size += rowSize(&rows[len(rows)-1])
		}
		if pg {
			err = insertRowsPostgres(ctx, tx, rows)
		} else {
			err = insertRows(ctx, tx, rows, size)
		}
		if err != nil {
			return nil, fmt.Errorf("insert audit records of %s: %w", tenantID, err)
		}
		if pg {
			_, err = db.PreparedExec(ctx, tx, `UPDATE audit_heads SET seq = $1, hash = $2 WHERE tenant_id = $3`, head.Seq, head.Hash, tenantID)
		} else {
			_, err = tx.NewUpdate().Model(&head).Column("seq", "hash").WherePK().Exec(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("move chain head of %s: %w", tenantID, err)
		}
	}
	return out, nil
}

// lockHead returns a tenant's chain head, created empty if it has none, locked for the
// transaction on PostgreSQL (SQLite's transaction holds the only write lock).
func lockHead(ctx context.Context, tx bun.Tx, pg bool, tenantID string) (headRow, error) {
	head := headRow{TenantID: tenantID}
	if pg { // every batch of every tenant: prepared statements
		if _, err := db.PreparedExec(ctx, tx, `INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, '') ON CONFLICT (tenant_id) DO NOTHING`, tenantID); err != nil {
			return head, fmt.Errorf("create chain head of %s: %w", tenantID, err)
		}
		found, err := db.PreparedRow(ctx, tx, `SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE`, []any{tenantID}, &head.Seq, &head.Hash)
		if err == nil && !found {
			err = sql.ErrNoRows
		}
		if err != nil {
			return head, fmt.Errorf("lock chain head of %s: %w", tenantID, err)
		}
		return head, nil
	}
	if _, err := tx.NewInsert().Model(&headRow{TenantID: tenantID}).On("CONFLICT (tenant_id) DO NOTHING").Exec(ctx); err != nil {
		return head, fmt.Errorf("create chain head of %s: %w", tenantID, err)
	}
	if err := tx.NewSelect().Model(&head).Where("tenant_id = ?", tenantID).Scan(ctx); err != nil {
		return head, fmt.Errorf("lock chain head of %s: %w", tenantID, err)
	}
	return head, nil
}

// insertRowsPostgres inserts rows in one prepared statement, from arrays: PostgreSQL
// neither lexes nor parses the records' text, as it does in insertRows' statement.
func insertRowsPostgres(ctx context.Context, tx bun.Tx, rows []recordRow) error {
	n := len(rows)
	var (
		tenants, principals, actions, resources = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		outcomes, requests, details, prev, hash = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs                                    = make([]int64, n)
		times                                   = make([]time.Time, n)
	)
	for i, r := range rows {
		tenants[i], seqs[i], times[i], principals[i], actions[i], resources[i] = r.TenantID, r.Seq, r.Time, r.Principal, r.Action, r.Resource
		outcomes[i], requests[i], details[i], prev[i], hash[i] = r.Outcome, r.RequestID, r.Detail, r.PrevHash, r.Hash
	}
	_, err := db.PreparedExec(ctx, tx, `INSERT INTO audit_records (tenant_id, seq, time, principal, action, resource, outcome, request_id, detail, prev_hash, hash)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`,
		tenants, seqs, times, principals, actions, resources, outcomes, requests, details, prev, hash)
	return err
}

// rowSize is about what row takes in a multi-row INSERT: its text, quoted and
// separated, with room for some escaping.
func rowSize(row *recordRow) int {
	n := len(row.TenantID) + len(row.Principal) + len(row.Action) + len(row.Resource) + len(row.Outcome) +
		len(row.RequestID) + len(row.Detail) + len(row.PrevHash) + len(row.Hash)
	return n + n/16 + 128
}

// insertRows inserts rows in one statement. It is bun's multi-row insert, written into
// a buffer of about the right size (size bytes) rather than one grown from 4 KiB a byte
// at a time: the statement of a batch is some hundred kilobytes.
func insertRows(ctx context.Context, tx bun.Tx, rows []recordRow, size int) error {
	q := tx.NewInsert().Model(&rows)
	b, err := q.AppendQuery(q.DB().QueryGen(), make([]byte, 0, size))
	if err != nil {
		return err
	}
	// The statement goes to the driver as it is: bun.Tx.ExecContext would look for
	// placeholders in it again (AgentOS installs no bun query hooks that this skips).
	_, err = tx.Tx.ExecContext(ctx, string(b))
	return err
}

// BatchOptions tune a Batcher.
type BatchOptions struct {
	// MaxBatch is the most records written per transaction (default 256).
	MaxBatch int
	// Interval is the longest a record waits before its batch is written (default 50ms).
	Interval time.Duration
	// Queue is the number of records that may wait (default 8192); Add blocks when full.
	Queue int
}

// Batcher writes audit records off the request path: Add queues a record, a background
// writer appends queued records in one transaction per batch and then emits them to the
// sink. Close writes what is queued and stops. Records of one tenant keep the order in
// which they were added.
type Batcher struct {
	l    *Logger
	opts BatchOptions
	ch   chan Record

	closeOnce sync.Once
	done      chan struct{}
}

// NewBatcher starts a batched writer over the logger's database and sink.
func (l *Logger) NewBatcher(opts BatchOptions) *Batcher {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Interval <= 0 {
		opts.Interval = 50 * time.Millisecond
	}
	if opts.Queue <= 0 {
		opts.Queue = 8192
	}
	b := &Batcher{l: l, opts: opts, ch: make(chan Record, opts.Queue), done: make(chan struct{})}
	go b.run()
	return b
}

// Add queues rec. It blocks while the queue is full (backpressure rather than loss) and
// gives up when ctx ends, logging the record it could not queue.
func (b *Batcher) Add(ctx context.Context, rec Record) {
	select {
	case b.ch <- rec:
	default:
		select {
		case b.ch <- rec:
		case <-ctx.Done():
			b.l.logger.Error("audit queue full; record dropped", "tenant_id", rec.TenantID, "action", rec.Action, "request_id", rec.RequestID)
		}
	}
}

// Close writes every queued record and stops the writer. Add must not be called after.
func (b *Batcher) Close() {
	b.closeOnce.Do(func() { close(b.ch) })
	<-b.done
}

func (b *Batcher) run() {
	defer close(b.done)
	batch := make([]Record, 0, b.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var open bool
		var rec Record
		if len(batch) == 0 {
			rec, open = <-b.ch
			if !open {
				return
			}
			batch = append(batch, rec)
			timer.Reset(b.opts.Interval)
			continue
		}
		select {
		case rec, open = <-b.ch:
			if !open {
				b.flush(batch)
				return
			}
			batch = append(batch, rec)
			if len(batch) < b.opts.MaxBatch {
				continue
			}
		case <-timer.C:
		}
		timer.Stop()
		b.flush(batch)
		batch = batch[:0]
	}
}

// flush writes one batch; if the batch fails as a whole, each record is retried alone
// so one bad record cannot lose the others.
func (b *Batcher) flush(batch []Record) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stored []Record
	err := b.l.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		stored, err = AppendBatch(ctx, tx, batch)
		return err
	})
	if err == nil {
		b.l.emitBatch(stored)
		return
	}
	b.l.logger.Warn("audit batch failed; writing its records one by one", "records", len(batch), "error", err)
	for _, rec := range batch {
		if err := b.l.Log(ctx, rec); err != nil {
			b.l.logger.Error("audit record lost", slog.String("tenant_id", rec.TenantID), slog.String("action", rec.Action),
				slog.String("request_id", rec.RequestID), slog.Any("error", err))
		}
	}
}

// batchSink is a Sink that can write many records at once (one write call).
type batchSink interface {
	WriteBatch([]Record) error
}

// emitBatch writes committed records to the sink, in one call when it can.
func (l *Logger) emitBatch(recs []Record) {
	if bs, ok := l.sink.(batchSink); ok {
		if err := bs.WriteBatch(recs); err != nil {
			l.logger.Error("write audit records to sink", slog.Int("records", len(recs)), slog.Any("error", err))
		}
		return
	}
	for _, rec := range recs {
		l.Emit(rec)
	}
}

// WriteBatch writes records as JSON lines in one write.
func (s *jsonLineSink) WriteBatch(recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := s.buf[:0]
	for i := range recs {
		var err error
		if buf, err = appendRecordJSON(buf, &recs[i]); err != nil {
			return fmt.Errorf("encode audit record: %w", err)
		}
		buf = append(buf, '\n')
	}
	s.keep(buf)
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("write audit records: %w", err)
	}
	return nil
}

// WriteBatch discards.
func (discardSink) WriteBatch([]Record) error { return nil }
