// Package store is the orchestrator's persistence: agents and their versions, runs and
// their lifecycle, the gap-free event log, idempotency keys and run quotas, on SQLite and
// PostgreSQL alike. Every function takes a bun.IDB so the caller decides the transaction;
// each state change and the event that records it are written in one.
package store

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("not found")
	ErrBadCursor   = errors.New("bad cursor")
	ErrConflict    = errors.New("illegal state transition")
	ErrLeaseLost   = errors.New("lease lost")
	ErrQuotaActive = errors.New("concurrent runs quota exceeded")
	ErrQuotaRate   = errors.New("run creation rate quota exceeded")
)

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newID returns prefix + a 26-character id whose first 8 bytes are the time in
// milliseconds, so ids sort by creation time.
func newID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli()))
	_, _ = rand.Read(b[8:])
	return prefix + idEncoding.EncodeToString(b[:])
}

// NewRunID returns a new, time-sortable run id.
func NewRunID(now time.Time) string { return newID("run_", now) }

// NewLeaseID returns a new lease id.
func NewLeaseID(now time.Time) string { return newID("lse_", now) }

func isPostgres(db bun.IDB) bool { return db.Dialect().Name() == dialect.PG }

// forUpdate locks the selected rows on PostgreSQL; SQLite transactions (BEGIN IMMEDIATE)
// already hold the database's write lock.
func forUpdate(db bun.IDB, q *bun.SelectQuery) *bun.SelectQuery {
	if isPostgres(db) {
		return q.For("UPDATE")
	}
	return q
}

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
