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
// (the pool or a transaction of a PostgreSQL DB). PostgreSQL may settle on one generic
// plan for it: right for statements whose best plan does not depend on the data, such as
// inserts, but see PlannedQuery.
func PreparedQuery(ctx context.Context, idb bun.IDB, query string, args ...any) (*sql.Rows, error) {
	return run(ctx, idb, pgx.QueryExecModeCacheStatement, query, args)
}

// PlannedQuery runs query, with $n placeholders, planned at every execution for its
// arguments and the table as it is then (pgx's QueryExecModeCacheDescribe: the unnamed
// statement, in one round trip once its description is cached). It is for lookups in
// tables that grow, such as runs by id: a generic plan made while the table was nearly
// empty — every fresh database — scans it whole, and PostgreSQL keeps that plan as the
// table grows until the table is next analyzed. The arguments are still not part of
// the text, so PostgreSQL does not lex them.
func PlannedQuery(ctx context.Context, idb bun.IDB, query string, args ...any) (*sql.Rows, error) {
	return run(ctx, idb, pgx.QueryExecModeCacheDescribe, query, args)
}

// PreparedExec is PreparedQuery for a statement that returns no rows.
func PreparedExec(ctx context.Context, idb bun.IDB, query string, args ...any) (sql.Result, error) {
	return exec(ctx, idb, pgx.QueryExecModeCacheStatement, query, args)
}

// PlannedExec is PlannedQuery for a statement that returns no rows.
func PlannedExec(ctx context.Context, idb bun.IDB, query string, args ...any) (sql.Result, error) {
	return exec(ctx, idb, pgx.QueryExecModeCacheDescribe, query, args)
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

func run(ctx context.Context, idb bun.IDB, mode pgx.QueryExecMode, q string, args []any) (*sql.Rows, error) {
	args = append([]any{mode}, args...)
	switch d := idb.(type) {
	case *bun.DB:
		return d.DB.QueryContext(ctx, q, args...)
	case bun.Tx:
		return d.Tx.QueryContext(ctx, q, args...)
	case *bun.Tx:
		return d.Tx.QueryContext(ctx, q, args...)
	}
	return nil, fmt.Errorf("db: no prepared statements on %T", idb)
}

func exec(ctx context.Context, idb bun.IDB, mode pgx.QueryExecMode, q string, args []any) (sql.Result, error) {
	args = append([]any{mode}, args...)
	switch d := idb.(type) {
	case *bun.DB:
		return d.DB.ExecContext(ctx, q, args...)
	case bun.Tx:
		return d.Tx.ExecContext(ctx, q, args...)
	case *bun.Tx:
		return d.Tx.ExecContext(ctx, q, args...)
	}
	return nil, fmt.Errorf("db: no prepared statements on %T", idb)
}
