package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/nexixai/agentos/internal/db"
)

// The outbox keeps audit off the hot path: a request's transaction inserts its record
// into audit_outbox (one insert, no lock shared with other requests), and a chainer
// moves outbox records into their tenant's hash chain in batches shortly after. The
// record commits with the change it describes or not at all; chaining it is deferred.

type outboxRow struct {
	bun.BaseModel `bun:"table:audit_outbox"`
	ID            int64     `bun:"id,pk,autoincrement"`
	TenantID      string    `bun:"tenant_id"`
	Record        string    `bun:"record"`
	CreatedAt     time.Time `bun:"created_at"`
}

const outboxBatch = 500

// Enqueue writes rec to the outbox inside tx; the chainer appends it to its tenant's
// chain and emits it to the sink after tx commits.
func (l *Logger) Enqueue(ctx context.Context, tx bun.IDB, rec Record) error {
	return l.EnqueueAll(ctx, tx, []Record{rec})
}

// EnqueueAll is Enqueue for several records, in one multi-row insert.
func (l *Logger) EnqueueAll(ctx context.Context, tx bun.IDB, recs []Record) error {
	rows := make([]outboxRow, len(recs))
	for i, rec := range recs {
		if err := rec.validate(); err != nil {
			return fmt.Errorf("enqueue audit record: %w", err)
		}
		if rec.Time.IsZero() {
			rec.Time = time.Now()
		}
		rec.Time = rec.Time.UTC().Truncate(time.Microsecond)
		if _, err := rec.canonicalDetail(); err != nil {
			return fmt.Errorf("enqueue audit record: %w", err)
		}
		data, err := appendRecordJSON(nil, &rec)
		if err != nil {
			return fmt.Errorf("encode audit record: %w", err)
		}
		rows[i] = outboxRow{TenantID: rec.TenantID, Record: string(data), CreatedAt: rec.Time}
	}
	if len(rows) == 0 {
		return nil
	}
	if tx.Dialect().Name() == dialect.PG { // a prepared statement, whatever the number of records
		tenants, records, created := make([]string, len(rows)), make([]string, len(rows)), make([]time.Time, len(rows))
		for i, r := range rows {
			tenants[i], records[i], created[i] = r.TenantID, r.Record, r.CreatedAt
		}
		if _, err := db.PreparedExec(ctx, tx, `INSERT INTO audit_outbox (tenant_id, record, created_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])`, tenants, records, created); err != nil {
			return fmt.Errorf("enqueue audit records: %w", err)
		}
		return nil
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("enqueue audit records: %w", err)
	}
	return nil
}

// Kick asks the chainer to run now rather than at its next tick.
func (l *Logger) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// RunChainer chains outbox records every interval (or when kicked) until ctx ends, then
// chains what is left once more.
func (l *Logger) RunChainer(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := l.Flush(context.Background()); err != nil {
				l.logger.Error("chain audit records at shutdown", "error", err)
			}
			return
		case <-t.C:
		case <-l.kick:
		}
		if err := l.Flush(ctx); err != nil && ctx.Err() == nil {
			l.logger.Error("chain audit records", "error", err)
		}
	}
}

// Flush chains every record in the outbox now and emits them to the sink.
func (l *Logger) Flush(ctx context.Context) error {
	for {
		n, err := l.chainBatch(ctx)
		if err != nil {
			return err
		}
		if n < outboxBatch {
			return nil
		}
	}
}

func (l *Logger) chainBatch(ctx context.Context) (int, error) {
	var chained []Record
	err := l.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		chained = chained[:0]
		var rows []outboxRow
		q := tx.NewSelect().Model(&rows).OrderExpr("id").Limit(outboxBatch)
		if tx.Dialect().Name() == dialect.PG {
			q = q.For("UPDATE SKIP LOCKED")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("read audit outbox: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]int64, len(rows))
		recs := make([]Record, len(rows))
		for i, row := range rows {
			if err := json.Unmarshal([]byte(row.Record), &recs[i]); err != nil {
				return fmt.Errorf("decode audit outbox record %d: %w", row.ID, err)
			}
			ids[i] = row.ID
		}
		stored, err := AppendBatch(ctx, tx, recs)
		if err != nil {
			return err
		}
		chained = append(chained, stored...)
		if _, err := tx.NewDelete().Model((*outboxRow)(nil)).Where("id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
			return fmt.Errorf("clear audit outbox: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, rec := range chained {
		l.Emit(rec)
	}
	return len(chained), nil
}
