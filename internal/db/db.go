// Package db opens AgentOS's relational store — SQLite for the embedded
// default, PostgreSQL for production — and applies its schema migrations.
//
// Every store in AgentOS takes a bun.IDB, so callers can hand in a *DB, a
// bun.Conn or a bun.Tx alike.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL backend behind a DB.
type Dialect string

// The supported backends.
const (
	DialectSQLite   Dialect = "sqlite"
	DialectPostgres Dialect = "postgres"
)

// DefaultFileName is the SQLite file created in the data directory when Open
// is given no URL.
const DefaultFileName = "agentos.db"

// sqliteParams are appended to every SQLite DSN. busy_timeout makes writers
// wait for the lock instead of failing, WAL lets readers run beside a writer,
// and _txlock=immediate takes the write lock at BEGIN so that read-then-write
// transactions serialise instead of failing with SQLITE_BUSY on upgrade.
const sqliteParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// DB is an open database together with the dialect it speaks.
//
// DB itself is not a bun.IDB, because its Dialect field hides bun.DB's
// Dialect method: hand d.DB to functions that take a bun.IDB.
type DB struct {
	*bun.DB
	// Dialect is the backend behind DB.
	Dialect Dialect

	writeMu *sync.Mutex // SQLite: one writer at a time (see InTx)
}

// Open opens the database named by url.
//
//   - ""                      SQLite at filepath.Join(dataDir, "agentos.db"); dataDir is created.
//   - "postgres://…", "postgresql://…"  PostgreSQL through pgx.
//   - "sqlite:PATH", "file:PATH"        SQLite at PATH; PATH's directory is created.
//
// Open pings the database before it returns, so a bad URL or an unreachable
// server fails here. Any other scheme is an error.
func Open(ctx context.Context, url, dataDir string) (*DB, error) {
	switch {
	case url == "":
		if dataDir == "" {
			dataDir = "."
		}
		return openSQLite(ctx, filepath.Join(dataDir, DefaultFileName))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url)
	case strings.HasPrefix(url, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite:"))
	case strings.HasPrefix(url, "file:"):
		return openSQLite(ctx, strings.TrimPrefix(url, "file:"))
	default:
		scheme, _, found := strings.Cut(url, ":")
		if !found {
			scheme = url
		}
		return nil, fmt.Errorf("open database: unsupported URL scheme %q (want postgres://, postgresql://, sqlite: or file:)", scheme)
	}
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	file, query, _ := strings.Cut(path, "?")
	if file == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if dir := filepath.Dir(file); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite: create data directory: %w", err)
		}
	}
	dsn := "file:" + file + "?" + sqliteParams
	if query != "" {
		dsn += "&" + query
	}
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", file, err)
	}
	d := &DB{DB: bun.NewDB(sqldb, sqlitedialect.New()), Dialect: DialectSQLite, writeMu: new(sync.Mutex)}
	if err := d.Ping(ctx); err != nil {
		_ = sqldb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", file, err)
	}
	return d, nil
}

// PostgresMaxConns bounds each process's PostgreSQL connections.
const PostgresMaxConns = 32

func openPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// bun renders arguments into the SQL text, so every statement is unique: the
	// default extended protocol would prepare (an extra round trip) and cache each one.
	// The simple protocol sends it once.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	sqldb := stdlib.OpenDB(*cfg)
	// database/sql keeps only 2 idle connections by default, so a busy service would
	// open and close PostgreSQL connections constantly.
	sqldb.SetMaxOpenConns(PostgresMaxConns)
	sqldb.SetMaxIdleConns(PostgresMaxConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{DB: bun.NewDB(sqldb, pgdialect.New()), Dialect: DialectPostgres}
	if err := d.Ping(ctx); err != nil {
		_ = sqldb.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return d, nil
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", d.Dialect, err)
	}
	return nil
}

// Close closes the connection pool.
func (d *DB) Close() error {
	if err := d.DB.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.Dialect, err)
	}
	return nil
}

// InTx runs fn in a transaction. The transaction commits when fn returns
// nil and rolls back when fn returns an error or panics; fn's error is
// returned unchanged so callers can match sentinels with errors.Is.
//
// On SQLite, write transactions of the process are queued on a mutex before BEGIN
// IMMEDIATE: SQLite allows one writer, and its busy handler would otherwise make the
// waiters sleep and poll (up to ~100 ms a retry), where a mutex hands over at once.
func (d *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if d.Dialect == DialectSQLite {
		d.writeMu.Lock()
		defer d.writeMu.Unlock()
	}
	return d.DB.RunInTx(ctx, nil, fn)
}

// Write runs fn, which makes a single-statement write, without a transaction on
// PostgreSQL (the statement is atomic by itself, and BEGIN and COMMIT would cost two
// more round trips) and queued behind the process's other writers on SQLite, as InTx.
func (d *DB) Write(ctx context.Context, fn func(ctx context.Context, db bun.IDB) error) error {
	if d.Dialect == DialectSQLite {
		d.writeMu.Lock()
		defer d.writeMu.Unlock()
	}
	return fn(ctx, d.DB)
}

// IsUniqueViolation reports whether err (or an error it wraps) is a unique or
// primary-key constraint violation from either backend.
func (d *DB) IsUniqueViolation(err error) bool {
	return IsUniqueViolation(err)
}

// IsUniqueViolation reports whether err (or an error it wraps) is a unique or
// primary-key constraint violation from PostgreSQL or SQLite.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}
