package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/tenant"
)

func ptr[T any](v T) *T { return &v }

// t0 has nanoseconds, to check that stored times are truncated.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))

func TestPutCreateUpdate(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		in := tenant.Tenant{
			ID:          "tnt_a",
			DisplayName: "Tenant A",
			Quotas:      tenant.Quotas{RunCreateQPS: ptr[int32](5), TokensPerMinute: ptr[int64](1 << 40)},
			Labels:      map[string]string{"team": "core", "env": "dev"},
			// Ignored: Put stamps both times with now.
			CreatedAt: time.Unix(0, 0),
		}
		got, created, err := tenant.Put(ctx, d.DB, in, t0)
		require.NoError(t, err)
		require.True(t, created)
		want := in
		want.CreatedAt = t0.UTC().Truncate(time.Microsecond)
		want.UpdatedAt = want.CreatedAt
		require.Equal(t, want, got)
		require.Equal(t, time.UTC, got.CreatedAt.Location())

		stored, err := tenant.Get(ctx, d.DB, "tnt_a")
		require.NoError(t, err)
		require.Equal(t, want, stored)

		t1 := t0.Add(time.Hour)
		upd := tenant.Tenant{ID: "tnt_a", DisplayName: "Renamed", Quotas: tenant.Quotas{ConcurrentRuns: ptr[int32](2)}}
		got, created, err = tenant.Put(ctx, d.DB, upd, t1)
		require.NoError(t, err)
		require.False(t, created)
		want = tenant.Tenant{
			ID:          "tnt_a",
			DisplayName: "Renamed",
			Quotas:      tenant.Quotas{ConcurrentRuns: ptr[int32](2)},
			Labels:      map[string]string{},
			CreatedAt:   t0.UTC().Truncate(time.Microsecond),
			UpdatedAt:   t1.UTC().Truncate(time.Microsecond),
		}
		require.Equal(t, want, got, "created_at is preserved, the rest replaced")
		stored, err = tenant.Get(ctx, d.DB, "tnt_a")
		require.NoError(t, err)
		require.Equal(t, want, stored)

		_, _, err = tenant.Put(ctx, d.DB, tenant.Tenant{}, t0)
		require.ErrorIs(t, err, tenant.ErrEmptyID)
	})
}

func TestPutInTx(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		rollback := errors.New("rollback")
		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, created, err := tenant.Put(ctx, tx, tenant.Tenant{ID: "tnt_tx"}, t0)
			require.NoError(t, err)
			require.True(t, created)
			ok, err := tenant.Exists(ctx, tx, "tnt_tx")
			require.NoError(t, err)
			require.True(t, ok, "visible inside the transaction")
			return rollback
		})
		require.ErrorIs(t, err, rollback)
		ok, err := tenant.Exists(ctx, d.DB, "tnt_tx")
		require.NoError(t, err)
		require.False(t, ok, "gone after rollback")
	})
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		_, err := tenant.Get(context.Background(), d.DB, "tnt_missing")
		require.ErrorIs(t, err, tenant.ErrNotFound)
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		// Inserted out of order; List returns id order.
		ids := []string{"tnt_e", "tnt_a", "tnt_d", "tnt_b", "tnt_c"}
		for _, id := range ids {
			_, _, err := tenant.Put(ctx, d.DB, tenant.Tenant{ID: id}, t0)
			require.NoError(t, err)
		}

		var pages [][]string
		cursor := ""
		for {
			page, next, err := tenant.List(ctx, d.DB, 2, cursor)
			require.NoError(t, err)
			var got []string
			for _, tn := range page {
				got = append(got, tn.ID)
			}
			pages = append(pages, got)
			if next == "" {
				break
			}
			require.Less(t, len(pages), 10, "List must terminate")
			cursor = next
		}
		require.Equal(t, [][]string{{"tnt_a", "tnt_b"}, {"tnt_c", "tnt_d"}, {"tnt_e"}}, pages)

		all, next, err := tenant.List(ctx, d.DB, 0, "")
		require.NoError(t, err)
		require.Len(t, all, 5)
		require.Empty(t, next)

		exact, next, err := tenant.List(ctx, d.DB, 5, "")
		require.NoError(t, err)
		require.Len(t, exact, 5)
		require.Empty(t, next, "no next cursor when the page ends exactly at the last tenant")
	})
}

func TestListEmpty(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		page, next, err := tenant.List(context.Background(), d.DB, 10, "")
		require.NoError(t, err)
		require.Empty(t, page)
		require.Empty(t, next)
	})
}

func TestListBadCursor(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		for _, c := range []string{"!!!", "a=b", "dG50X2E="} { // the last is padded base64
			_, _, err := tenant.List(context.Background(), d.DB, 2, c)
			require.ErrorIs(t, err, tenant.ErrBadCursor, c)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		_, _, err := tenant.Put(ctx, d.DB, tenant.Tenant{ID: "tnt_del"}, t0)
		require.NoError(t, err)

		require.NoError(t, tenant.Delete(ctx, d.DB, "tnt_del"))
		_, err = tenant.Get(ctx, d.DB, "tnt_del")
		require.ErrorIs(t, err, tenant.ErrNotFound)
		require.ErrorIs(t, tenant.Delete(ctx, d.DB, "tnt_del"), tenant.ErrNotFound)

		// Re-creating after delete reports created again.
		_, created, err := tenant.Put(ctx, d.DB, tenant.Tenant{ID: "tnt_del"}, t0)
		require.NoError(t, err)
		require.True(t, created)
	})
}

func TestExists(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ok, err := tenant.Exists(ctx, d.DB, "tnt_x")
		require.NoError(t, err)
		require.False(t, ok)
		_, _, err = tenant.Put(ctx, d.DB, tenant.Tenant{ID: "tnt_x"}, t0)
		require.NoError(t, err)
		ok, err = tenant.Exists(ctx, d.DB, "tnt_x")
		require.NoError(t, err)
		require.True(t, ok)
	})
}

func TestEnsureDefault(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		require.NoError(t, tenant.EnsureDefault(ctx, d.DB, "tnt_demo", t0))
		got, err := tenant.Get(ctx, d.DB, "tnt_demo")
		require.NoError(t, err)
		require.Equal(t, tenant.Tenant{
			ID:        "tnt_demo",
			Labels:    map[string]string{},
			CreatedAt: t0.UTC().Truncate(time.Microsecond),
			UpdatedAt: t0.UTC().Truncate(time.Microsecond),
		}, got)

		// An existing tenant is left alone.
		_, _, err = tenant.Put(ctx, d.DB, tenant.Tenant{ID: "tnt_demo", DisplayName: "Demo"}, t0)
		require.NoError(t, err)
		require.NoError(t, tenant.EnsureDefault(ctx, d.DB, "tnt_demo", t0.Add(time.Hour)))
		got, err = tenant.Get(ctx, d.DB, "tnt_demo")
		require.NoError(t, err)
		require.Equal(t, "Demo", got.DisplayName)
		require.True(t, got.UpdatedAt.Equal(t0.Truncate(time.Microsecond)))

		require.ErrorIs(t, tenant.EnsureDefault(ctx, d.DB, "", t0), tenant.ErrEmptyID)
	})
}

func TestEnsureDefaultConcurrent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = tenant.EnsureDefault(ctx, d.DB, "tnt_race", t0) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "goroutine %d", i)
		}
		page, _, err := tenant.List(ctx, d.DB, 100, "")
		require.NoError(t, err)
		require.Len(t, page, 1)
	})
}

func TestPutConcurrent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		const n = 10
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, created[i], errs[i] = tenant.Put(ctx, d.DB, tenant.Tenant{ID: "tnt_p", DisplayName: fmt.Sprint(i)}, t0)
			})
		}
		wg.Wait()
		count := 0
		for i := range n {
			require.NoError(t, errs[i])
			if created[i] {
				count++
			}
		}
		require.Equal(t, 1, count, "exactly one Put creates")
	})
}
