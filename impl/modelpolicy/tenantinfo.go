package modelpolicy

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/tenant"
)

// tenantInfo is what a call needs to know about its tenant: whether it exists, its
// labels (for the policy input) and its quota overrides.
type tenantInfo struct {
	known   bool
	labels  map[string]string
	quotas  tenant.Quotas
	expires time.Time
}

// tenantInfoCache reads tenants through a short cache, so the request path does not hit
// the database; changes are seen within its ttl.
type tenantInfoCache struct {
	db  *db.DB
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]tenantInfo
}

func newTenantInfoCache(d *db.DB, ttl time.Duration) *tenantInfoCache {
	return &tenantInfoCache{db: d, ttl: ttl, now: time.Now, entries: map[string]tenantInfo{}}
}

func (c *tenantInfoCache) get(ctx context.Context, id string) (tenantInfo, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	t, err := tenant.Get(ctx, c.db.DB, id)
	switch {
	case errors.Is(err, tenant.ErrNotFound):
		e = tenantInfo{known: false}
	case err != nil:
		return tenantInfo{}, err
	default:
		e = tenantInfo{known: true, labels: t.Labels, quotas: t.Quotas}
	}
	e.expires = now.Add(c.ttl)
	c.mu.Lock()
	if len(c.entries) > 10000 {
		c.entries = map[string]tenantInfo{}
	}
	c.entries[id] = e
	c.mu.Unlock()
	return e, nil
}
