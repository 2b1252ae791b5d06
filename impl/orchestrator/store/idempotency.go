package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Idempotency key states.
const (
	keyPending = "pending"
	keyDone    = "done"
)

// KeyOutcome is what BeginKey found.
type KeyOutcome int

// Outcomes of BeginKey.
const (
	// KeyNew: the key was free and is now held by the caller, who must FinishKey or ReleaseKey.
	KeyNew KeyOutcome = iota
	// KeyInFlight: another request holds the key.
	KeyInFlight
	// KeyMismatch: the key was used with another request body.
	KeyMismatch
	// KeyReplay: the stored response of the first request is returned.
	KeyReplay
)

// StoredResponse is a response kept for replay.
type StoredResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

type idemRow struct {
	bun.BaseModel `bun:"table:idempotency_keys"`
	TenantID      string    `bun:"tenant_id,pk"`
	Key           string    `bun:"key,pk"`
	RequestHash   string    `bun:"request_hash"`
	State         string    `bun:"state"`
	Status        int       `bun:"status"`
	ContentType   string    `bun:"content_type"`
	Body          string    `bun:"body"`
	CreatedAt     time.Time `bun:"created_at"`
	ExpiresAt     time.Time `bun:"expires_at"`
	LockedUntil   time.Time `bun:"locked_until"`
}

// BeginKey claims an idempotency key for a request with hash, or reports what holds it.
// A pending key whose holder has not finished within lockFor (a crashed process) is taken
// over; an expired key is reused.
func BeginKey(ctx context.Context, db bun.IDB, tenantID, key, hash string, ttl, lockFor time.Duration, now time.Time) (KeyOutcome, *StoredResponse, error) {
	now = utc(now)
	row := idemRow{TenantID: tenantID, Key: key, RequestHash: hash, State: keyPending, CreatedAt: now, ExpiresAt: now.Add(ttl), LockedUntil: now.Add(lockFor)}
	res, err := db.NewInsert().Model(&row).On("CONFLICT (tenant_id, key) DO NOTHING").Exec(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("insert idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return KeyNew, nil, nil
	}
	var cur idemRow
	err = db.NewSelect().Model(&cur).Where("tenant_id = ? AND key = ?", tenantID, key).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return BeginKey(ctx, db, tenantID, key, hash, ttl, lockFor, now) // purged meanwhile
	}
	if err != nil {
		return 0, nil, fmt.Errorf("load idempotency key: %w", err)
	}
	expired := !utc(cur.ExpiresAt).After(now)
	stale := cur.State == keyPending && !utc(cur.LockedUntil).After(now)
	if expired || stale {
		// Take it over, unless someone else did first.
		upd, err := db.NewUpdate().Model(&row).
			Set("request_hash = ?", hash).Set("state = ?", keyPending).Set("status = 0").Set("content_type = ''").Set("body = ''").
			Set("created_at = ?", now).Set("expires_at = ?", row.ExpiresAt).Set("locked_until = ?", row.LockedUntil).
			Where("tenant_id = ? AND key = ? AND state = ? AND request_hash = ? AND locked_until = ?", tenantID, key, cur.State, cur.RequestHash, cur.LockedUntil).
			Exec(ctx)
		if err != nil {
			return 0, nil, fmt.Errorf("take over idempotency key: %w", err)
		}
		if n, _ := upd.RowsAffected(); n == 1 {
			return KeyNew, nil, nil
		}
		return KeyInFlight, nil, nil
	}
	if cur.RequestHash != hash {
		return KeyMismatch, nil, nil
	}
	if cur.State == keyPending {
		return KeyInFlight, nil, nil
	}
	return KeyReplay, &StoredResponse{Status: cur.Status, ContentType: cur.ContentType, Body: []byte(cur.Body)}, nil
}

// FinishKey stores the response of the request holding key.
func FinishKey(ctx context.Context, db bun.IDB, tenantID, key string, resp StoredResponse) error {
	_, err := db.NewUpdate().Model((*idemRow)(nil)).
		Set("state = ?", keyDone).Set("status = ?", resp.Status).Set("content_type = ?", resp.ContentType).Set("body = ?", string(resp.Body)).
		Where("tenant_id = ? AND key = ?", tenantID, key).Exec(ctx)
	if err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// ReleaseKey frees a key whose request failed in a way worth retrying.
func ReleaseKey(ctx context.Context, db bun.IDB, tenantID, key string) error {
	_, err := db.NewDelete().Model((*idemRow)(nil)).Where("tenant_id = ? AND key = ? AND state = ?", tenantID, key, keyPending).Exec(ctx)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeKeys deletes up to limit expired keys and returns how many it deleted.
func PurgeKeys(ctx context.Context, db bun.IDB, limit int, now time.Time) (int64, error) {
	res, err := db.NewRaw("DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (SELECT tenant_id, key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)", utc(now), limit).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
