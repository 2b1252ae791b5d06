package db_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/db/migrations"
	"github.com/nexixai/agentos/internal/dbtest"
)

func TestOpenDefaultPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "nested", "data")

	d, err := db.Open(ctx, "", dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })

	require.Equal(t, db.DialectSQLite, d.Dialect)
	require.FileExists(t, filepath.Join(dir, "agentos.db"))
	require.NoError(t, d.Ping(ctx))
}

func TestOpenSQLiteSchemes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, scheme := range []string{"sqlite:", "file:"} {
		path := filepath.Join(t.TempDir(), "sub", "x.db")
		d, err := db.Open(ctx, scheme+path, "")
		require.NoError(t, err, scheme)
		require.Equal(t, db.DialectSQLite, d.Dialect)
		require.NoError(t, d.Close())
		require.FileExists(t, path)
	}
}

func TestOpenPragmas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.SQLite(t)

	var mode string
	require.NoError(t, d.NewRaw("PRAGMA journal_mode").Scan(ctx, &mode))
	require.Equal(t, "wal", mode)
	var fk, busy int
	require.NoError(t, d.NewRaw("PRAGMA foreign_keys").Scan(ctx, &fk))
	require.Equal(t, 1, fk)
	require.NoError(t, d.NewRaw("PRAGMA busy_timeout").Scan(ctx, &busy))
	require.Equal(t, 5000, busy)
}

func TestOpenUnsupportedScheme(t *testing.T) {
	t.Parallel()
	_, err := db.Open(context.Background(), "mysql://root@localhost/x", t.TempDir())
	require.ErrorContains(t, err, `"mysql"`)
}

// openTwice opens and migrates the database at url twice, as two process
// starts would, and checks that the second run changes nothing.
func openTwice(t *testing.T, url, dir string) {
	t.Helper()
	ctx := context.Background()
	for range 2 {
		d, err := db.Open(ctx, url, dir)
		require.NoError(t, err)
		require.NoError(t, d.Migrate(ctx))
		require.NoError(t, d.Migrate(ctx))

		n, err := d.NewSelect().Table("agentos_migrations").Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, migrationCount(t), n, "each migration is recorded once")
		for _, table := range []string{"tenants", "audit_records", "audit_heads"} {
			_, err := d.NewSelect().Table(table).Count(ctx)
			require.NoError(t, err, table)
		}
		require.NoError(t, d.Close())
	}
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		openTwice(t, "", t.TempDir())
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		openTwice(t, dbtest.URL(t), "")
	})
}

func TestMigrateConcurrentPostgres(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	ctx := context.Background()

	const procs = 4
	dbs := make([]*db.DB, procs)
	for i := range dbs {
		d, err := db.Open(ctx, url, "")
		require.NoError(t, err)
		t.Cleanup(func() { _ = d.Close() })
		dbs[i] = d
	}
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for i, d := range dbs {
		wg.Go(func() { errs[i] = d.Migrate(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	n, err := dbs[0].NewSelect().Table("agentos_migrations").Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, migrationCount(t), n)
}

// migrationCount is the number of embedded migrations.
func migrationCount(t *testing.T) int {
	t.Helper()
	ups, err := fs.Glob(migrations.FS, "*.up.sql")
	require.NoError(t, err)
	return len(ups)
}

type kv struct {
	bun.BaseModel `bun:"table:tenants"`
	ID            string    `bun:"id,pk"`
	CreatedAt     time.Time `bun:"created_at"`
	UpdatedAt     time.Time `bun:"updated_at"`
}

func TestInTx(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		boom := errors.New("boom")

		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewInsert().Model(&kv{ID: "rolled_back", CreatedAt: now, UpdatedAt: now}).Exec(ctx)
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		n, err := d.NewSelect().Model((*kv)(nil)).Where("id = ?", "rolled_back").Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "insert is rolled back")

		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewInsert().Model(&kv{ID: "committed", CreatedAt: now, UpdatedAt: now}).Exec(ctx)
			return err
		}))
		var got kv
		require.NoError(t, d.NewSelect().Model(&got).Where("id = ?", "committed").Scan(ctx))
		require.True(t, now.Equal(got.CreatedAt), "time round-trips: %v != %v", now, got.CreatedAt)
	})
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		_, err := d.NewInsert().Model(&kv{ID: "dup", CreatedAt: now, UpdatedAt: now}).Exec(ctx)
		require.NoError(t, err)
		_, err = d.NewInsert().Model(&kv{ID: "dup", CreatedAt: now, UpdatedAt: now}).Exec(ctx)
		require.Error(t, err)
		require.True(t, d.IsUniqueViolation(err), "%v", err)
		require.True(t, db.IsUniqueViolation(errors.Join(errors.New("wrapped"), err)))

		_, err = d.NewRaw("SELECT * FROM no_such_table").Exec(ctx)
		require.Error(t, err)
		require.False(t, d.IsUniqueViolation(err), "%v", err)
		require.False(t, d.IsUniqueViolation(nil))
	})
}
