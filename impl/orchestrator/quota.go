package orchestrator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/tenant"
)

// quotaCache holds each tenant's effective run quota (its overrides over the defaults)
// for a short while, so run creation does not read the tenants table every time.
type quotaCache struct {
	db       bun.IDB
	defaults store.Quota
	ttl      time.Duration

	mu      sync.Mutex
	entries map[string]quotaEntry
}

type quotaEntry struct {
	q       store.Quota
	expires time.Time
}

func newQuotaCache(db bun.IDB, qps, active int64, ttl time.Duration) *quotaCache {
	return &quotaCache{db: db, defaults: store.Quota{QPS: qps, MaxActive: active}, ttl: ttl, entries: map[string]quotaEntry{}}
}

func (c *quotaCache) get(ctx context.Context, tenantID string) (store.Quota, error) {
	c.mu.Lock()
	e, ok := c.entries[tenantID]
	c.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.q, nil
	}
	q := c.defaults
	t, err := tenant.Get(ctx, c.db, tenantID)
	switch {
	case errors.Is(err, tenant.ErrNotFound):
	case err != nil:
		return q, err
	default:
		if v := t.Quotas.RunCreateQPS; v != nil {
			q.QPS = int64(*v)
		}
		if v := t.Quotas.ConcurrentRuns; v != nil {
			q.MaxActive = int64(*v)
		}
	}
	c.mu.Lock()
	c.entries[tenantID] = quotaEntry{q: q, expires: time.Now().Add(c.ttl)}
	c.mu.Unlock()
	return q, nil
}

func (c *quotaCache) invalidate(tenantID string) {
	c.mu.Lock()
	delete(c.entries, tenantID)
	c.mu.Unlock()
}
