package db

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// bun writes every argument into the SQL text, so PostgreSQL parses and plans each
// statement anew (openPostgres uses the simple protocol for that reason). The few
// statements that run for every run, or for every group of runs, go around bun with $n
// placeholders instead: pgx prepares each once per connection and PostgreSQL reuses the
// parse and, once it finds it as good, a generic plan. They are PostgreSQL-only paths.

// PreparedQuery runs query, with $n placeholders, as a cached prepared statement in idb
// (the pool or a transaction of a PostgreSQL DB).
func PreparedQuery(ctx context.Context, idb bun.IDB, query string, args ...any) (*sql.Rows, error) {
	args = append([]any{pgx.QueryExecModeCacheStatement}, args...)
	switch d := idb.(type) {
	case *bun.DB:
		return d.DB.QueryContext(ctx, query, args...)
	case bun.Tx:
		return d.Tx.QueryContext(ctx, query, args...)
	case *bun.Tx:
		return d.Tx.QueryContext(ctx, query, args...)
	}
	return nil, fmt.Errorf("db: no prepared statements on %T", idb)
}

// PreparedExec is PreparedQuery for a statement that returns no rows.
func PreparedExec(ctx context.Context, idb bun.IDB, query string, args ...any) (sql.Result, error) {
	args = append([]any{pgx.QueryExecModeCacheStatement}, args...)
	switch d := idb.(type) {
	case *bun.DB:
		return d.DB.ExecContext(ctx, query, args...)
	case bun.Tx:
		return d.Tx.ExecContext(ctx, query, args...)
	case *bun.Tx:
		return d.Tx.ExecContext(ctx, query, args...)
	}
	return nil, fmt.Errorf("db: no prepared statements on %T", idb)
}

// PreparedRow runs query as PreparedQuery and scans its first row into dest; found is
// false when there is none.
func PreparedRow(ctx context.Context, idb bun.IDB, query string, args []any, dest ...any) (found bool, err error) {
	rows, err := PreparedQuery(ctx, idb, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dest...); err != nil {
		return false, err
	}
	return true, rows.Close()
}
