// Package apikey stores the OpenAI-style API keys of Model Policy: per tenant, created
// through the admin API, shown once, stored as a SHA-256 hash, looked up through a small
// cache on the request path.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// Prefix starts every key, so the gateway can tell a key from a JWT.
const Prefix = "sk-agentos-"

// ErrNotFound reports an unknown key or key id.
var ErrNotFound = errors.New("api key not found")

// Key is a stored key, without its secret.
type Key struct {
	ID          string
	TenantID    string
	Name        string
	PrincipalID string
	// Display is the key's first characters, to recognise it.
	Display   string
	CreatedAt time.Time
}

type row struct {
	bun.BaseModel `bun:"table:model_api_keys,alias:k"`

	ID          string    `bun:"id,pk"`
	TenantID    string    `bun:"tenant_id"`
	Name        string    `bun:"name"`
	PrincipalID string    `bun:"principal_id"`
	Prefix      string    `bun:"prefix"`
	Hash        string    `bun:"hash"`
	CreatedAt   time.Time `bun:"created_at"`
}

func (r row) key() Key {
	return Key{ID: r.ID, TenantID: r.TenantID, Name: r.Name, PrincipalID: r.PrincipalID, Display: r.Prefix, CreatedAt: r.CreatedAt.UTC()}
}

// Hash is the stored form of a secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// Create makes a key for tenantID; principalID "" means "apikey:<id>". It returns the
// key and its secret, which is not stored and cannot be shown again.
func Create(ctx context.Context, db bun.IDB, tenantID, name, principalID string, now time.Time) (Key, string, error) {
	var idb [6]byte
	var sb [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return Key{}, "", err
	}
	if _, err := rand.Read(sb[:]); err != nil {
		return Key{}, "", err
	}
	id := "key_" + hex.EncodeToString(idb[:])
	secret := Prefix + strings.ToLower(enc.EncodeToString(sb[:]))
	if principalID == "" {
		principalID = "apikey:" + id
	}
	r := row{
		ID: id, TenantID: tenantID, Name: name, PrincipalID: principalID,
		Prefix: secret[:len(Prefix)+4], Hash: Hash(secret), CreatedAt: now.UTC().Truncate(time.Microsecond),
	}
	if _, err := db.NewInsert().Model(&r).Exec(ctx); err != nil {
		return Key{}, "", fmt.Errorf("create api key: %w", err)
	}
	return r.key(), secret, nil
}

// List returns the tenant's keys by id.
func List(ctx context.Context, db bun.IDB, tenantID string) ([]Key, error) {
	var rows []row
	if err := db.NewSelect().Model(&rows).Where("tenant_id = ?", tenantID).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]Key, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out, nil
}

// Delete removes one of the tenant's keys; another tenant's key is ErrNotFound.
func Delete(ctx context.Context, db bun.IDB, tenantID, id string) error {
	res, err := db.NewDelete().Model((*row)(nil)).Where("tenant_id = ?", tenantID).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteTenant removes every key of a tenant.
func DeleteTenant(ctx context.Context, db bun.IDB, tenantID string) error {
	_, err := db.NewDelete().Model((*row)(nil)).Where("tenant_id = ?", tenantID).Exec(ctx)
	return err
}

// Lookup finds the key whose secret is given.
func Lookup(ctx context.Context, db bun.IDB, secret string) (Key, error) {
	var r row
	err := db.NewSelect().Model(&r).Where("hash = ?", Hash(secret)).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("look up api key: %w", err)
	}
	return r.key(), nil
}

// Cache answers Lookup from memory for ttl (positive and negative answers), so a
// revoked key stops working within ttl everywhere and at once on the node that revoked
// it (Invalidate).
type Cache struct {
	db  bun.IDB
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry
	gen     uint64
}

type cacheEntry struct {
	key     Key
	found   bool
	expires time.Time
}

// maxEntries bounds the cache; it is emptied when full (a flood of bad keys cannot
// grow it without bound).
const maxEntries = 10000

// NewCache returns a Cache over db.
func NewCache(db bun.IDB, ttl time.Duration) *Cache {
	return &Cache{db: db, ttl: ttl, now: time.Now, entries: map[string]cacheEntry{}}
}

// Lookup is Lookup through the cache.
func (c *Cache) Lookup(ctx context.Context, secret string) (Key, error) {
	h := Hash(secret)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[h]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		if !e.found {
			return Key{}, ErrNotFound
		}
		return e.key, nil
	}
	k, err := Lookup(ctx, c.db, secret)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Key{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		if len(c.entries) >= maxEntries {
			c.entries = map[string]cacheEntry{}
		}
		c.entries[h] = cacheEntry{key: k, found: err == nil, expires: now.Add(c.ttl)}
	}
	return k, err
}

// Invalidate forgets every cached answer.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = map[string]cacheEntry{}
}
