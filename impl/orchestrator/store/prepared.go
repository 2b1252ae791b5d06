package store

import (
	"context"
	"database/sql"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/db"
)

// The statements that run for every run go around bun on PostgreSQL, with $n
// placeholders (internal/db): inserts and the claim as prepared statements that may
// keep a generic plan, lookups of runs and their events planned at every execution
// (db.PlannedQuery says why). These are their names here, where most functions call
// their bun.IDB parameter db.

func pgQuery(ctx context.Context, idb bun.IDB, query string, args ...any) (*sql.Rows, error) {
	return db.PreparedQuery(ctx, idb, query, args...)
}

func pgExec(ctx context.Context, idb bun.IDB, query string, args ...any) error {
	_, err := db.PreparedExec(ctx, idb, query, args...)
	return err
}

func pgQueryRow(ctx context.Context, idb bun.IDB, query string, args []any, dest ...any) (bool, error) {
	return db.PreparedRow(ctx, idb, query, args, dest...)
}

func pgLookup(ctx context.Context, idb bun.IDB, query string, args ...any) (*sql.Rows, error) {
	return db.PlannedQuery(ctx, idb, query, args...)
}

func pgLookupExec(ctx context.Context, idb bun.IDB, query string, args ...any) error {
	_, err := db.PlannedExec(ctx, idb, query, args...)
	return err
}
