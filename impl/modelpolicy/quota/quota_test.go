package quota

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

// eachStore runs fn on the memory store and on the database store of each backend.
func eachStore(t *testing.T, fn func(t *testing.T, newStore func() Store)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		s := NewMemoryStore()
		fn(t, func() Store { return s })
	})
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		fn(t, func() Store { return NewDBStore(d.DB) })
	})
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func() Store) {
		ctx := context.Background()
		s := newStore()
		ok, err := s.Grant(ctx, "t", KindTokensPerMinute, 60, 7, 10)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.Grant(ctx, "t", KindTokensPerMinute, 60, 4, 10)
		require.NoError(t, err)
		require.False(t, ok, "7+4 > 10")
		ok, err = s.Grant(ctx, "t", KindTokensPerMinute, 60, 3, 10)
		require.NoError(t, err)
		require.True(t, ok, "7+3 = 10")
		ok, err = s.Grant(ctx, "other", KindTokensPerMinute, 60, 10, 10)
		require.NoError(t, err)
		require.True(t, ok, "tenants are separate")
		ok, err = s.Grant(ctx, "t", KindTokensPerMinute, 120, 11, 10)
		require.NoError(t, err)
		require.False(t, ok, "want > limit never fits")

		require.NoError(t, s.Adjust(ctx, []Adjustment{{"t", KindTokensPerMinute, 60, -5}, {"t", KindTokensPerMinute, 60, 1}}))
		ok, err = s.Grant(ctx, "t", KindTokensPerMinute, 60, 4, 10)
		require.NoError(t, err)
		require.True(t, ok, "10-5+1+4 = 10")

		require.NoError(t, s.Cleanup(ctx, 61))
		ok, err = s.Grant(ctx, "t", KindTokensPerMinute, 60, 10, 10)
		require.NoError(t, err)
		require.True(t, ok, "old windows are gone")

		// Concurrent grants never exceed the limit.
		var granted atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					ok, err := s.Grant(ctx, "c", KindInvokeQPS, 1, 1, 50)
					if err == nil && ok {
						granted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 50, granted.Load())
	})
}

func TestLimiterQPS(t *testing.T) {
	t.Parallel()
	l := NewLimiter(NewMemoryStore())
	now := time.Unix(1000, 500e6)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	for range 3 {
		_, err := l.Reserve(ctx, "t", Limits{InvokeQPS: 3}, 0)
		require.NoError(t, err)
	}
	_, err := l.Reserve(ctx, "t", Limits{InvokeQPS: 3}, 0)
	var ex *ExceededError
	require.True(t, errors.As(err, &ex))
	require.Equal(t, KindInvokeQPS, ex.Kind)
	require.Equal(t, 500*time.Millisecond, ex.RetryAfter)
	now = now.Add(time.Second)
	_, err = l.Reserve(ctx, "t", Limits{InvokeQPS: 3}, 0)
	require.NoError(t, err, "a new second")
	_, err = l.Reserve(ctx, "u", Limits{}, 1e9)
	require.NoError(t, err, "0 is unlimited")
}

func TestLimiterTokensReserveAndSettle(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	l := NewLimiter(store)
	now := time.Unix(6000, 0)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	lim := Limits{TokensPerMinute: 100}
	r1, err := l.Reserve(ctx, "t", lim, 60)
	require.NoError(t, err)
	_, err = l.Reserve(ctx, "t", lim, 50)
	var ex *ExceededError
	require.True(t, errors.As(err, &ex), "60 reserved + 50 > 100")
	require.Equal(t, 60*time.Second, ex.RetryAfter)

	adj, ok := l.Settle(r1, 20)
	require.True(t, ok)
	require.EqualValues(t, -40, adj.Delta)
	require.NoError(t, store.Adjust(ctx, []Adjustment{adj}))
	_, err = l.Reserve(ctx, "t", lim, 50)
	require.NoError(t, err, "20 used + 50 fits")

	big, err := l.Reserve(ctx, "other", lim, 1000)
	require.NoError(t, err, "a reservation above the limit is cut to it")
	require.EqualValues(t, 100, big.Tokens)

	_, ok = l.Settle(&Reservation{}, 5)
	require.False(t, ok, "nothing to settle without a token limit")
	now = now.Add(time.Minute)
	_, ok = l.Settle(r1, 10)
	require.False(t, ok, "a past window is not given back")
	adj, ok = l.Settle(r1, 90)
	require.True(t, ok, "an overrun is still counted")
	require.EqualValues(t, 30, adj.Delta)
}

// TestLimitersShareTheDatabase: two limiters (two gateway processes) over one database
// never grant more than the limit together.
func TestLimitersShareTheDatabase(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		a, b := NewLimiter(NewDBStore(d.DB)), NewLimiter(NewDBStore(d.DB))
		fixed := time.Unix(120000, 0)
		a.now = func() time.Time { return fixed }
		b.now = a.now
		var granted atomic.Int64
		var wg sync.WaitGroup
		for i := range 6 {
			l := a
			if i%2 == 1 {
				l = b
			}
			wg.Go(func() {
				for range 40 {
					if r, err := l.Reserve(ctx, "t", Limits{TokensPerMinute: 600}, 7); err == nil {
						granted.Add(r.Tokens)
					}
				}
			})
		}
		wg.Wait()
		require.LessOrEqual(t, granted.Load(), int64(600))
		require.GreaterOrEqual(t, granted.Load(), int64(600-2*7-2*12), "at most a block per limiter is left unused")
	})
}

func TestLimiterTakesBlocksAtHighLimits(t *testing.T) {
	t.Parallel()
	store := &countingStore{Store: NewMemoryStore()}
	l := NewLimiter(store)
	ctx := context.Background()
	for range 1000 {
		_, err := l.Reserve(ctx, "t", Limits{InvokeQPS: 100000, TokensPerMinute: 10_000_000}, 10)
		require.NoError(t, err)
	}
	require.Less(t, store.grants.Load(), int64(20), "capacity is taken in blocks, not per call")
}

type countingStore struct {
	Store
	grants atomic.Int64
}

func (s *countingStore) Grant(ctx context.Context, tenant, kind string, window, want, limit int64) (bool, error) {
	s.grants.Add(1)
	return s.Store.Grant(ctx, tenant, kind, window, want, limit)
}
