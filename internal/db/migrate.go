package db

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/uptrace/bun/migrate"

	"github.com/nexixai/agentos/internal/db/migrations"
)

// Names of bun/migrate's bookkeeping tables.
const (
	migrationsTable     = "agentos_migrations"
	migrationLocksTable = "agentos_migration_locks"
)

// templateData is what every migration file is rendered with; see package
// migrations for the fields' meaning.
type templateData struct {
	Dialect   string
	Postgres  bool
	SQLite    bool
	Timestamp string
}

func (d *DB) templateData() templateData {
	td := templateData{Dialect: string(d.Dialect)}
	switch d.Dialect {
	case DialectPostgres:
		td.Postgres = true
		td.Timestamp = "timestamptz"
	default:
		td.SQLite = true
		td.Timestamp = "timestamp"
	}
	return td
}

// Migrate applies every embedded migration that has not been applied yet.
// It is idempotent. On PostgreSQL it holds a session advisory lock, keyed by
// the current schema, for the whole run, so processes that start at once
// apply each migration exactly once; on SQLite the embedded deployment has a
// single process.
func (d *DB) Migrate(ctx context.Context) error {
	ms := migrate.NewMigrations()
	if err := ms.Discover(migrations.FS); err != nil {
		return fmt.Errorf("discover migrations: %w", err)
	}
	m := migrate.NewMigrator(d.DB, ms,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable),
		migrate.WithMarkAppliedOnSuccess(true),
		migrate.WithTemplateData(d.templateData()),
	)

	if d.Dialect == DialectPostgres {
		unlock, err := d.lockMigrations(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}

	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("init migrations: %w", err)
	}
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", d.Dialect, err)
	}
	return nil
}

// lockMigrations takes a PostgreSQL session advisory lock on a connection
// set aside for it and returns the function that releases it. The key is
// derived from the current schema, so separate schemas (one per test, say)
// migrate independently.
func (d *DB) lockMigrations(ctx context.Context) (func(), error) {
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	const key = "hashtext('agentos_migrate:' || coalesce(current_schema(), ''))"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	return func() {
		// Unlock even when ctx is done; closing the connection would also
		// release the lock, but it goes back to the pool instead.
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key+")")
		if err != nil {
			// A connection that may still hold the lock must not be reused.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}, nil
}
