package audit

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/db"
)

// Logger records audit records in the database and, once they commit, in a
// sink.
//
// The usual sequence, for a record tied to another write:
//
//	var rec audit.Record
//	err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
//		// … the write …
//		var err error
//		rec, err = l.Record(ctx, tx, audit.Record{…})
//		return err
//	})
//	if err == nil {
//		l.Emit(rec)
//	}
type Logger struct {
	db     *db.DB
	sink   Sink
	logger *slog.Logger
	kick   chan struct{}
}

// New returns a Logger writing to d and sink; a nil sink discards and a nil
// logger logs nothing.
func New(d *db.DB, sink Sink, logger *slog.Logger) *Logger {
	if sink == nil {
		sink = discardSink{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Logger{db: d, sink: sink, logger: logger, kick: make(chan struct{}, 1)}
}

// Record appends rec to its tenant's chain inside tx (see Append) and
// returns it as stored. It does not write to the sink: call Emit with the
// result once tx has committed.
func (l *Logger) Record(ctx context.Context, tx bun.IDB, rec Record) (Record, error) {
	return Append(ctx, tx, rec)
}

// Emit writes a committed record to the sink. A sink error is logged, not
// returned: the database holds the record either way.
func (l *Logger) Emit(rec Record) {
	if err := l.sink.Write(rec); err != nil {
		l.logger.Error("write audit record to sink",
			slog.String("tenant_id", rec.TenantID),
			slog.Int64("seq", rec.Seq),
			slog.String("action", rec.Action),
			slog.String("request_id", rec.RequestID),
			slog.Any("error", err))
	}
}

// Log appends rec in a transaction of its own and emits it, for records not
// tied to another write, such as a denied attempt. Do not call it while
// holding a transaction on the same SQLite database: it would wait for that
// transaction's write lock.
func (l *Logger) Log(ctx context.Context, rec Record) error {
	var stored Record
	err := l.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		stored, err = Append(ctx, tx, rec)
		return err
	})
	if err != nil {
		return fmt.Errorf("log audit record: %w", err)
	}
	l.Emit(stored)
	return nil
}

// Close closes the sink.
func (l *Logger) Close() error {
	return l.sink.Close()
}
