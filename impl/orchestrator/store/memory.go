package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/uptrace/bun"
)

// MemoryItem is one stored memory of a tenant's namespace, with the embedding of its value.
type MemoryItem struct {
	bun.BaseModel `bun:"table:memory_items"`
	TenantID      string     `bun:"tenant_id,pk"`
	Namespace     string     `bun:"namespace,pk"`
	Key           string     `bun:"key,pk"`
	Value         string     `bun:"value"`
	Embedding     string     `bun:"embedding"` // JSON array of numbers
	CreatedAt     time.Time  `bun:"created_at"`
	UpdatedAt     time.Time  `bun:"updated_at"`
	ExpiresAt     *time.Time `bun:"expires_at"`
}

func (m *MemoryItem) normalize() {
	m.CreatedAt, m.UpdatedAt, m.ExpiresAt = utc(m.CreatedAt), utc(m.UpdatedAt), utcPtr(m.ExpiresAt)
}

// PutMemory stores an item, keeping the creation time of the one it replaces.
func PutMemory(ctx context.Context, db bun.IDB, m *MemoryItem, now time.Time) error {
	now = utc(now)
	m.CreatedAt, m.UpdatedAt = now, now
	m.ExpiresAt = utcPtr(m.ExpiresAt)
	_, err := db.NewInsert().Model(m).
		On("CONFLICT (tenant_id, namespace, key) DO UPDATE").
		Set("value = EXCLUDED.value").Set("embedding = EXCLUDED.embedding").
		Set("updated_at = EXCLUDED.updated_at").Set("expires_at = EXCLUDED.expires_at").
		Returning("created_at").Exec(ctx)
	if err != nil {
		return fmt.Errorf("store memory item: %w", err)
	}
	m.normalize()
	return nil
}

// GetMemory returns a live (unexpired) item.
func GetMemory(ctx context.Context, db bun.IDB, tenantID, namespace, key string, now time.Time) (*MemoryItem, error) {
	m := new(MemoryItem)
	err := db.NewSelect().Model(m).
		Where("tenant_id = ? AND namespace = ? AND key = ?", tenantID, namespace, key).
		Where("(expires_at IS NULL OR expires_at > ?)", utc(now)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load memory item: %w", err)
	}
	m.normalize()
	return m, nil
}

// DeleteMemory deletes an item.
func DeleteMemory(ctx context.Context, db bun.IDB, tenantID, namespace, key string) error {
	res, err := db.NewDelete().Model((*MemoryItem)(nil)).Where("tenant_id = ? AND namespace = ? AND key = ?", tenantID, namespace, key).Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete memory item: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// MemoryMatch is a search result.
type MemoryMatch struct {
	Key, Value string
	Score      float64
}

// maxSearched bounds the items one search compares.
const maxSearched = 20000

// SearchMemory returns the topK live items of a namespace most similar (cosine) to query.
func SearchMemory(ctx context.Context, db bun.IDB, tenantID, namespace string, query []float64, topK int, now time.Time) ([]MemoryMatch, error) {
	var items []MemoryItem
	err := db.NewSelect().Model(&items).Column("key", "value", "embedding").
		Where("tenant_id = ? AND namespace = ?", tenantID, namespace).
		Where("(expires_at IS NULL OR expires_at > ?)", utc(now)).
		Limit(maxSearched).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("read memory namespace: %w", err)
	}
	out := make([]MemoryMatch, 0, len(items))
	for _, it := range items {
		var vec []float64
		if err := json.Unmarshal([]byte(it.Embedding), &vec); err != nil {
			continue
		}
		out = append(out, MemoryMatch{Key: it.Key, Value: it.Value, Score: cosine(query, vec)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > topK {
		out = out[:topK]
	}
	return out, nil
}

func cosine(a, b []float64) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / (math.Sqrt(na) * math.Sqrt(nb))
}

// PurgeMemory deletes up to limit expired items.
func PurgeMemory(ctx context.Context, db bun.IDB, limit int, now time.Time) (int64, error) {
	res, err := db.NewRaw("DELETE FROM memory_items WHERE (tenant_id, namespace, key) IN (SELECT tenant_id, namespace, key FROM memory_items WHERE expires_at <= ? LIMIT ?)", utc(now), limit).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge memory: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
