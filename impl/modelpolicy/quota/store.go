package quota

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/uptrace/bun"
)

// MemoryStore keeps counters in memory: exact for one process.
type MemoryStore struct {
	mu       sync.Mutex
	counters map[memKey]int64
}

type memKey struct {
	tenant, kind string
	window       int64
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{counters: map[memKey]int64{}} }

// Grant implements Store.
func (s *MemoryStore) Grant(_ context.Context, tenant, kind string, window, want, limit int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{tenant, kind, window}
	if s.counters[k]+want > limit {
		return false, nil
	}
	s.counters[k] += want
	return true, nil
}

// Adjust implements Store.
func (s *MemoryStore) Adjust(_ context.Context, adj []Adjustment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range adj {
		s.counters[memKey{a.Tenant, a.Kind, a.Window}] += a.Delta
	}
	return nil
}

// Cleanup implements Store.
func (s *MemoryStore) Cleanup(_ context.Context, before int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.counters {
		if k.window < before {
			delete(s.counters, k)
		}
	}
	return nil
}

// DBStore keeps counters in the model_quota_counters table; every change is one atomic
// statement, so processes sharing the database share the counters.
type DBStore struct{ db bun.IDB }

// NewDBStore returns a DBStore on db.
func NewDBStore(db bun.IDB) *DBStore { return &DBStore{db: db} }

// Grant implements Store: one upsert that increments only while the result stays
// within limit.
func (s *DBStore) Grant(ctx context.Context, tenant, kind string, window, want, limit int64) (bool, error) {
	if want > limit {
		return false, nil
	}
	var used int64
	err := s.db.NewRaw(`INSERT INTO model_quota_counters (tenant_id, kind, window_start, used) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant_id, kind, window_start) DO UPDATE SET used = model_quota_counters.used + excluded.used
WHERE model_quota_counters.used + excluded.used <= ?
RETURNING used`, tenant, kind, window, want, limit).Scan(ctx, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("grant quota: %w", err)
	}
	return true, nil
}

// Adjust implements Store.
func (s *DBStore) Adjust(ctx context.Context, adj []Adjustment) error {
	if len(adj) == 0 {
		return nil
	}
	// Sum per counter first, so each row is touched once.
	sum := map[memKey]int64{}
	var order []memKey
	for _, a := range adj {
		k := memKey{a.Tenant, a.Kind, a.Window}
		if _, ok := sum[k]; !ok {
			order = append(order, k)
		}
		sum[k] += a.Delta
	}
	// A fixed order keeps concurrent adjusters from deadlocking.
	slices.SortFunc(order, func(a, b memKey) int {
		return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.kind, b.kind), cmp.Compare(a.window, b.window))
	})
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, k := range order {
			if sum[k] == 0 {
				continue
			}
			if _, err := tx.NewRaw(`UPDATE model_quota_counters SET used = used + ? WHERE tenant_id = ? AND kind = ? AND window_start = ?`,
				sum[k], k.tenant, k.kind, k.window).Exec(ctx); err != nil {
				return fmt.Errorf("adjust quota: %w", err)
			}
		}
		return nil
	})
}

// Cleanup implements Store.
func (s *DBStore) Cleanup(ctx context.Context, before int64) error {
	if _, err := s.db.NewRaw(`DELETE FROM model_quota_counters WHERE window_start < ?`, before).Exec(ctx); err != nil {
		return fmt.Errorf("clean up quota counters: %w", err)
	}
	return nil
}
