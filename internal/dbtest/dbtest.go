// Package dbtest gives tests a fresh, migrated database on each backend.
//
// SQLite always runs. PostgreSQL runs when TEST_DATABASE_URL is set, e.g.
//
//	TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//
// and every call gets its own schema, dropped when the test ends, so tests
// may run in parallel against one server.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/nexixai/agentos/internal/db"
)

// EnvDatabaseURL names the environment variable holding the PostgreSQL URL
// that tests run against.
const EnvDatabaseURL = "TEST_DATABASE_URL"

// maxOpenConns caps each test database's pool, so parallel tests in parallel
// packages stay well below the server's max_connections.
const maxOpenConns = 8

// setupTimeout bounds creating, migrating and dropping a test database.
const setupTimeout = time.Minute

// Each runs fn once per available backend, as parallel subtests named
// "sqlite" and "postgres"; the postgres subtest is skipped when
// TEST_DATABASE_URL is unset. fn must not call t.Parallel itself.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, SQLite(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, Postgres(t))
	})
}

// SQLite returns a fresh, migrated SQLite database in t.TempDir(), closed
// when the test ends.
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	d, err := db.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return d
}

// Postgres returns a fresh, migrated PostgreSQL database: a new schema
// agentos_test_<random> on the server at TEST_DATABASE_URL, reached through
// a search_path set in the connection URL and dropped when the test ends.
// It skips the test when TEST_DATABASE_URL is unset.
func Postgres(t testing.TB) *db.DB {
	t.Helper()
	dsn := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	d, err := db.Open(ctx, dsn, "")
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	d.SetMaxOpenConns(maxOpenConns)
	// Registered after URL's drop, so it runs before it.
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return d
}

// URL returns TEST_DATABASE_URL pointed (through search_path) at a fresh,
// empty schema agentos_test_<random> that is dropped when the test ends, for
// tests that open their own connections, e.g. to run Open and Migrate
// themselves. It skips the test when TEST_DATABASE_URL is unset.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Skipf("dbtest: %s is not set; skipping PostgreSQL", EnvDatabaseURL)
	}
	admin, err := adminDB(base)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	schema := "agentos_test_" + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("dbtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dbtest: drop schema %s: %v", schema, err)
		}
	})
	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dsn
}

var (
	adminMu    sync.Mutex
	adminPools = map[string]*sql.DB{}
)

// adminDB returns the process-wide pool used to create and drop schemas; it
// lives until the test binary exits.
func adminDB(base string) (*sql.DB, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if p, ok := adminPools[base]; ok {
		return p, nil
	}
	p, err := sql.Open("pgx", base)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", EnvDatabaseURL, err)
	}
	p.SetMaxOpenConns(2)
	adminPools[base] = p
	return p, nil
}

// withSearchPath returns base with search_path set to schema; pgx passes
// unknown URL parameters to the server as run-time parameters.
func withSearchPath(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", EnvDatabaseURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return hex.EncodeToString(b)
}
