package tenant

import (
	"context"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// DefaultCacheTTL is how long a Cache keeps an answer when NewCache is given
// a ttl <= 0.
const DefaultCacheTTL = 2 * time.Second

// sweepEvery is how many new entries a Cache adds between sweeps of expired
// ones, which bounds its size when callers probe many ids that do not exist.
const sweepEvery = 1024

// Cache is a read-through cache of Exists for the request hot path. It keeps
// positive and negative answers for its ttl, so a tenant created or deleted
// elsewhere is seen within ttl; Invalidate forgets one id at once. A Cache
// is safe for concurrent use.
type Cache struct {
	db     bun.IDB
	ttl    time.Duration
	now    func() time.Time
	lookup func(ctx context.Context, db bun.IDB, id string) (bool, error)

	mu      sync.Mutex
	entries map[string]cacheEntry
	added   int
	// gen counts Invalidate calls; an answer read from the database is not
	// cached if an Invalidate ran meanwhile, since it may predate the change.
	gen uint64
}

type cacheEntry struct {
	exists  bool
	expires time.Time
}

// NewCache returns a Cache reading from db that keeps answers for ttl
// (DefaultCacheTTL when ttl <= 0).
func NewCache(db bun.IDB, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Cache{db: db, ttl: ttl, now: time.Now, lookup: Exists, entries: map[string]cacheEntry{}}
}

// Exists reports whether the tenant id exists, from the cache when it holds
// an answer younger than the ttl. Errors are not cached.
func (c *Cache) Exists(ctx context.Context, id string) (bool, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.exists, nil
	}

	exists, err := c.lookup(ctx, c.db, id)
	if err != nil {
		return false, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return exists, nil
	}
	c.entries[id] = cacheEntry{exists: exists, expires: now.Add(c.ttl)}
	if c.added++; c.added >= sweepEvery {
		c.added = 0
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	return exists, nil
}

// Invalidate forgets the cached answer for id, so the next Exists asks the
// database. Call it after creating or deleting a tenant.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}
