package tenant

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

func TestCache(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c := NewCache(d.DB, 0)
		require.Equal(t, DefaultCacheTTL, c.ttl)
		c.now = func() time.Time { return now }

		exists := func(id string) bool {
			t.Helper()
			ok, err := c.Exists(ctx, id)
			require.NoError(t, err)
			return ok
		}

		// Negative answers are cached.
		require.False(t, exists("tnt_a"))
		require.NoError(t, EnsureDefault(ctx, d.DB, "tnt_a", now))
		require.False(t, exists("tnt_a"), "negative answer still cached")

		// Invalidate forgets one id.
		c.Invalidate("tnt_a")
		require.True(t, exists("tnt_a"))

		// Positive answers are cached.
		require.NoError(t, Delete(ctx, d.DB, "tnt_a"))
		require.True(t, exists("tnt_a"), "positive answer still cached")

		// Answers expire after the ttl.
		now = now.Add(DefaultCacheTTL - time.Nanosecond)
		require.True(t, exists("tnt_a"), "still within ttl")
		now = now.Add(time.Nanosecond)
		require.False(t, exists("tnt_a"), "expired; read through")
	})
}

func TestCacheInvalidateDuringRead(t *testing.T) {
	t.Parallel()
	d := dbtest.SQLite(t)
	c := NewCache(d.DB, time.Hour)
	ctx := context.Background()

	// The tenant is created, and the cache invalidated, after the database
	// answered "no" but before that answer is stored: it must not be cached.
	c.lookup = func(ctx context.Context, db bun.IDB, id string) (bool, error) {
		ok, err := Exists(ctx, db, id)
		require.NoError(t, EnsureDefault(ctx, db, id, time.Now()))
		c.Invalidate(id)
		return ok, err
	}
	ok, err := c.Exists(ctx, "tnt_b")
	require.NoError(t, err)
	require.False(t, ok)

	c.lookup = Exists
	ok, err = c.Exists(ctx, "tnt_b")
	require.NoError(t, err)
	require.True(t, ok, "the stale negative answer was not cached")
}

func TestCacheSweepsExpired(t *testing.T) {
	t.Parallel()
	d := dbtest.SQLite(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewCache(d.DB, time.Second)
	c.now = func() time.Time { return now }
	ctx := context.Background()

	for i := range sweepEvery - 1 {
		_, err := c.Exists(ctx, fmt.Sprintf("tnt_%d", i))
		require.NoError(t, err)
	}
	require.Len(t, c.entries, sweepEvery-1)
	now = now.Add(2 * time.Second)
	_, err := c.Exists(ctx, "tnt_last")
	require.NoError(t, err)
	require.Len(t, c.entries, 1, "expired entries are swept")
}
