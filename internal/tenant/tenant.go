// Package tenant stores AgentOS tenants: their display names, quotas and
// labels. Every function takes a bun.IDB, so callers can pass a *db.DB, a
// connection or a transaction.
package tenant

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound reports that no tenant has the given id.
	ErrNotFound = errors.New("tenant not found")
	// ErrBadCursor reports a List cursor that List did not issue.
	ErrBadCursor = errors.New("bad tenant cursor")
	// ErrEmptyID reports a tenant without an id.
	ErrEmptyID = errors.New("tenant id is empty")
)

// List page sizes.
const (
	// DefaultPageSize is the page size List uses when limit <= 0.
	DefaultPageSize = 100
	// MaxPageSize caps List's limit.
	MaxPageSize = 1000
)

// Quotas are a tenant's limits; a nil field means the platform default.
type Quotas struct {
	RunCreateQPS    *int32 `json:"run_create_qps,omitempty"`
	ConcurrentRuns  *int32 `json:"concurrent_runs,omitempty"`
	InvokeQPS       *int32 `json:"invoke_qps,omitempty"`
	TokensPerMinute *int64 `json:"tokens_per_minute,omitempty"`
}

// Tenant is one tenant as stored. Times are UTC, truncated to microseconds;
// Labels is never nil once read.
type Tenant struct {
	ID          string
	DisplayName string
	Quotas      Quotas
	Labels      map[string]string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// row is the tenants table; quotas and labels are JSON text.
type row struct {
	bun.BaseModel `bun:"table:tenants"`

	ID          string    `bun:"id,pk"`
	DisplayName string    `bun:"display_name"`
	Quotas      string    `bun:"quotas"`
	Labels      string    `bun:"labels"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

func toRow(t Tenant) (row, error) {
	quotas, err := json.Marshal(t.Quotas)
	if err != nil {
		return row{}, fmt.Errorf("encode quotas: %w", err)
	}
	labels := t.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	labelsJSON, err := json.Marshal(labels)
	if err != nil {
		return row{}, fmt.Errorf("encode labels: %w", err)
	}
	return row{
		ID:          t.ID,
		DisplayName: t.DisplayName,
		Quotas:      string(quotas),
		Labels:      string(labelsJSON),
		CreatedAt:   normTime(t.CreatedAt),
		UpdatedAt:   normTime(t.UpdatedAt),
	}, nil
}

func (r row) tenant() (Tenant, error) {
	t := Tenant{
		ID:          r.ID,
		DisplayName: r.DisplayName,
		Labels:      map[string]string{},
		CreatedAt:   normTime(r.CreatedAt),
		UpdatedAt:   normTime(r.UpdatedAt),
	}
	if err := json.Unmarshal([]byte(r.Quotas), &t.Quotas); err != nil {
		return Tenant{}, fmt.Errorf("decode quotas of tenant %s: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Labels), &t.Labels); err != nil {
		return Tenant{}, fmt.Errorf("decode labels of tenant %s: %w", r.ID, err)
	}
	if t.Labels == nil { // the column held JSON null
		t.Labels = map[string]string{}
	}
	return t, nil
}

// normTime returns t as stored: UTC, truncated to microseconds.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Put creates the tenant t.ID or replaces its display name, quotas and
// labels, stamping updated_at with now (and created_at too when it creates).
// An update keeps the stored created_at. It returns the tenant as stored and
// whether it was created.
func Put(ctx context.Context, db bun.IDB, t Tenant, now time.Time) (Tenant, bool, error) {
	if t.ID == "" {
		return Tenant{}, false, fmt.Errorf("put tenant: %w", ErrEmptyID)
	}
	t.CreatedAt, t.UpdatedAt = now, now
	r, err := toRow(t)
	if err != nil {
		return Tenant{}, false, fmt.Errorf("put tenant %s: %w", t.ID, err)
	}
	// Insert-or-update in two statements rather than one upsert, because
	// only this way both dialects can tell a create from an update. A
	// concurrent Delete between them sends us round again.
	for range 3 {
		res, err := db.NewInsert().Model(&r).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		if err != nil {
			return Tenant{}, false, fmt.Errorf("put tenant %s: %w", t.ID, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			out, err := r.tenant()
			return out, true, err
		}

		var created time.Time
		err = db.NewUpdate().Model(&r).
			Column("display_name", "quotas", "labels", "updated_at").
			WherePK().
			Returning("created_at").
			Scan(ctx, &created)
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted since the insert; try to create it again
		}
		if err != nil {
			return Tenant{}, false, fmt.Errorf("put tenant %s: %w", t.ID, err)
		}
		r.CreatedAt = created
		out, err := r.tenant()
		return out, false, err
	}
	return Tenant{}, false, fmt.Errorf("put tenant %s: raced with concurrent deletes", t.ID)
}

// Get returns the tenant id, or ErrNotFound.
func Get(ctx context.Context, db bun.IDB, id string) (Tenant, error) {
	var r row
	err := db.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return r.tenant()
}

// List returns up to limit tenants in id order, starting after cursor ("" for
// the first page), and the cursor of the next page, "" after the last.
// limit <= 0 means DefaultPageSize; it is capped at MaxPageSize. A cursor
// List did not issue yields ErrBadCursor.
func List(ctx context.Context, db bun.IDB, limit int, cursor string) ([]Tenant, string, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)

	q := db.NewSelect().Model((*row)(nil)).Order("id ASC").Limit(int64(limit) + 1)
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list tenants: %w", err)
		}
		q = q.Where("id > ?", after)
	}
	var rows []row
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, "", fmt.Errorf("list tenants: %w", err)
	}

	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(rows[limit-1].ID)
	}
	out := make([]Tenant, 0, len(rows))
	for _, r := range rows {
		t, err := r.tenant()
		if err != nil {
			return nil, "", fmt.Errorf("list tenants: %w", err)
		}
		out = append(out, t)
	}
	return out, next, nil
}

func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 {
		return "", ErrBadCursor
	}
	return string(b), nil
}

// Delete removes the tenant id, or returns ErrNotFound. It removes the
// tenant row only: the tenant's audit chain stays.
func Delete(ctx context.Context, db bun.IDB, id string) error {
	res, err := db.NewDelete().Model((*row)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete tenant %s: %w", id, ErrNotFound)
	}
	return nil
}

// Exists reports whether the tenant id exists.
func Exists(ctx context.Context, db bun.IDB, id string) (bool, error) {
	ok, err := db.NewSelect().Model((*row)(nil)).Where("id = ?", id).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("check tenant %s: %w", id, err)
	}
	return ok, nil
}

// EnsureDefault creates the tenant id with no quotas or labels if it does not
// exist and leaves it untouched if it does. Concurrent calls are safe: all
// but one are no-ops.
func EnsureDefault(ctx context.Context, db bun.IDB, id string, now time.Time) error {
	if id == "" {
		return fmt.Errorf("ensure tenant: %w", ErrEmptyID)
	}
	r, err := toRow(Tenant{ID: id, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return fmt.Errorf("ensure tenant %s: %w", id, err)
	}
	if _, err := db.NewInsert().Model(&r).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("ensure tenant %s: %w", id, err)
	}
	return nil
}
