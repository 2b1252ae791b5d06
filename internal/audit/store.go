package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// recordRow is the audit_records table.
type recordRow struct {
	bun.BaseModel `bun:"table:audit_records"`

	TenantID  string    `bun:"tenant_id,pk"`
	Seq       int64     `bun:"seq,pk"`
	Time      time.Time `bun:"time"`
	Principal string    `bun:"principal"`
	Action    string    `bun:"action"`
	Resource  string    `bun:"resource"`
	Outcome   string    `bun:"outcome"`
	RequestID string    `bun:"request_id"`
	Detail    string    `bun:"detail"`
	PrevHash  string    `bun:"prev_hash"`
	Hash      string    `bun:"hash"`
}

// record returns the row as a Record; a detail that does not decode is
// returned as an error beside the rest of the record.
func (r recordRow) record() (Record, error) {
	detail, err := decodeDetail(r.Detail)
	return Record{
		TenantID:  r.TenantID,
		Seq:       r.Seq,
		Time:      r.Time.UTC(),
		Principal: r.Principal,
		Action:    r.Action,
		Resource:  r.Resource,
		Outcome:   r.Outcome,
		RequestID: r.RequestID,
		Detail:    detail,
		PrevHash:  r.PrevHash,
		Hash:      r.Hash,
	}, err
}

// where names the row's place, relative to the chain of tenantID.
func (r recordRow) where(tenantID string) string {
	if r.TenantID == tenantID {
		return fmt.Sprintf("seq %d", r.Seq)
	}
	return fmt.Sprintf("tenant %s seq %d", r.TenantID, r.Seq)
}

// headRow is the audit_heads table: the newest seq and hash of a tenant's
// chain. Appends lock it, which serialises them per tenant.
type headRow struct {
	bun.BaseModel `bun:"table:audit_heads"`

	TenantID string `bun:"tenant_id,pk"`
	Seq      int64  `bun:"seq"`
	Hash     string `bun:"hash"`
}

// validate checks the fields the caller must set.
func (r Record) validate() error {
	if r.TenantID == "" {
		return errors.New("tenant_id is empty")
	}
	if r.Action == "" {
		return errors.New("action is empty")
	}
	switch r.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied:
	default:
		return fmt.Errorf("outcome %q is not one of %q, %q, %q", r.Outcome, OutcomeSuccess, OutcomeFailure, OutcomeDenied)
	}
	return nil
}

// Append adds rec to the end of its tenant's chain: it sets Seq and PrevHash
// from the tenant's chain head, Time to now if it is zero (and to UTC,
// truncated to microseconds, in any case), computes Hash, inserts the record
// and moves the head. It returns the record as stored.
//
// tx should be the caller's transaction, so the record commits or rolls back
// with the change it describes; given a *bun.DB or a bun.Conn, Append opens
// a transaction of its own. The head row stays locked until tx ends, so
// concurrent appends to one tenant queue behind each other (PostgreSQL
// through SELECT … FOR UPDATE, SQLite through its single writer lock).
func Append(ctx context.Context, tx bun.IDB, rec Record) (Record, error) {
	if err := rec.validate(); err != nil {
		return Record{}, fmt.Errorf("append audit record: %w", err)
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	rec.Time = rec.Time.UTC().Truncate(time.Microsecond)
	detail, err := rec.canonicalDetail()
	if err != nil {
		return Record{}, fmt.Errorf("append audit record: %w", err)
	}

	switch tx.(type) {
	case bun.Tx, *bun.Tx:
		rec, err = appendTx(ctx, tx, rec, detail)
	default:
		err = tx.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			rec, err = appendTx(ctx, tx, rec, detail)
			return err
		})
	}
	if err != nil {
		return Record{}, fmt.Errorf("append audit record for tenant %s: %w", rec.TenantID, err)
	}
	return rec, nil
}

func appendTx(ctx context.Context, tx bun.IDB, rec Record, detail string) (Record, error) {
	// Make sure the head row exists, then lock it. ON CONFLICT DO NOTHING
	// never fails, so a PostgreSQL transaction stays usable.
	if _, err := tx.NewInsert().
		Model(&headRow{TenantID: rec.TenantID}).
		On("CONFLICT (tenant_id) DO NOTHING").
		Exec(ctx); err != nil {
		return Record{}, fmt.Errorf("create chain head: %w", err)
	}
	var head headRow
	q := tx.NewSelect().Model(&head).Where("tenant_id = ?", rec.TenantID)
	if tx.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return Record{}, fmt.Errorf("lock chain head: %w", err)
	}

	rec.Seq = head.Seq + 1
	rec.PrevHash = head.Hash
	rec.Hash = rec.hashWith(detail)

	row := recordRow{
		TenantID:  rec.TenantID,
		Seq:       rec.Seq,
		Time:      rec.Time,
		Principal: rec.Principal,
		Action:    rec.Action,
		Resource:  rec.Resource,
		Outcome:   rec.Outcome,
		RequestID: rec.RequestID,
		Detail:    detail,
		PrevHash:  rec.PrevHash,
		Hash:      rec.Hash,
	}
	if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
		return Record{}, fmt.Errorf("insert record: %w", err)
	}
	head.Seq, head.Hash = rec.Seq, rec.Hash
	if _, err := tx.NewUpdate().Model(&head).Column("seq", "hash").WherePK().Exec(ctx); err != nil {
		return Record{}, fmt.Errorf("move chain head: %w", err)
	}
	return rec, nil
}

// Kinds of Finding.
const (
	// FindingEdited: a record's contents no longer match its hash, or a
	// record was moved to another seq or tenant.
	FindingEdited = "edited"
	// FindingInserted: a record that was never appended: its seq was never
	// issued, or its prev_hash does not link to the record before it.
	FindingInserted = "inserted"
	// FindingDeleted: records are missing from the middle (a gap in seq) or
	// from the end (the head is past the last record).
	FindingDeleted = "deleted"
	// FindingHeadMismatch: the chain head is missing or does not hold the
	// hash of the last record.
	FindingHeadMismatch = "head_mismatch"
)

// Finding is a break in a tenant's audit chain.
type Finding struct {
	// TenantID is the chain the break is in.
	TenantID string
	// Seq is where it is: the edited or inserted record, the first missing
	// seq, or the head's seq.
	Seq int64
	// Kind is one of the Finding* constants.
	Kind string
	// Detail explains the finding to a person.
	Detail string
}

// verifyBatch is how many records Verify reads per query.
const verifyBatch = 1000

// Verify walks the chain of tenantID, or of every tenant with audit records
// or a chain head when tenantID is "", in seq order and returns the first
// finding per tenant, ordered by tenant; nil means every chain is intact.
//
// The kinds are accurate for a single tampering with a chain: a record's
// field changed (edited, at that record, also when the change is to seq or
// tenant_id), a record deleted from the middle or the end (deleted, at the
// first missing seq), a forged record added (inserted). A
// tamperer who rewrites every later hash and the head too is not detected:
// the copy in the audit sink is the independent witness.
func Verify(ctx context.Context, db bun.IDB, tenantID string) ([]Finding, error) {
	return verify(ctx, db, tenantID, verifyBatch)
}

// verify is Verify reading batch records per query.
func verify(ctx context.Context, db bun.IDB, tenantID string, batch int) ([]Finding, error) {
	tenants := []string{tenantID}
	if tenantID == "" {
		tenants = nil
		if err := db.NewRaw(
			"SELECT tenant_id FROM audit_records UNION SELECT tenant_id FROM audit_heads ORDER BY tenant_id",
		).Scan(ctx, &tenants); err != nil {
			return nil, fmt.Errorf("verify audit chains: list tenants: %w", err)
		}
	}
	var findings []Finding
	for _, id := range tenants {
		f, err := verifyTenant(ctx, db, id, batch)
		if err != nil {
			return nil, fmt.Errorf("verify audit chain of tenant %s: %w", id, err)
		}
		if f != nil {
			findings = append(findings, *f)
		}
	}
	return findings, nil
}

func verifyTenant(ctx context.Context, db bun.IDB, tenantID string, batch int) (*Finding, error) {
	found := func(seq int64, kind, format string, args ...any) (*Finding, error) {
		return &Finding{TenantID: tenantID, Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}, nil
	}

	var head headRow
	hasHead := true
	if err := db.NewSelect().Model(&head).Where("tenant_id = ?", tenantID).Scan(ctx); err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read chain head: %w", err)
		}
		hasHead = false
	}

	expected := int64(1) // the seq the next record must have
	prevHash := ""       // the hash the next record's prev_hash must hold
	after := int64(math.MinInt64)
	for {
		var rows []recordRow
		if err := db.NewSelect().Model(&rows).
			Where("tenant_id = ? AND seq > ?", tenantID, after).
			Order("seq ASC").
			Limit(int64(batch)).
			Scan(ctx); err != nil {
			return nil, fmt.Errorf("read records: %w", err)
		}
		for _, row := range rows {
			// A seq that was never issued: a forged record, or a record
			// whose seq was edited, which the chain still points to.
			if row.Seq < 1 || (hasHead && row.Seq > head.Seq) {
				slot, err := issuedAs(ctx, db, tenantID, row.Hash, head, hasHead)
				if err != nil {
					return nil, err
				}
				if slot > 0 {
					return found(slot, FindingEdited, "record %d was moved to seq %d", slot, row.Seq)
				}
				if !hasHead {
					return found(row.Seq, FindingInserted, "seq %d was never issued", row.Seq)
				}
				return found(row.Seq, FindingInserted, "seq %d was never issued; the chain head is at %d", row.Seq, head.Seq)
			}
			// A gap: deleted records, or one whose seq or tenant was edited.
			if row.Seq > expected {
				if row.Seq == expected+1 {
					moved, err := findRecord(ctx, db, row.PrevHash, prevHash)
					if err != nil {
						return nil, err
					}
					if moved != nil {
						return found(expected, FindingEdited, "record %d was moved to %s", expected, moved.where(tenantID))
					}
				}
				return found(expected, FindingDeleted, "%s missing", span(expected, row.Seq-1))
			}
			rec, err := row.record()
			if err != nil {
				return found(row.Seq, FindingEdited, "detail is not a JSON object: %v", err)
			}
			if rec.ComputeHash() != row.Hash {
				return found(row.Seq, FindingEdited, "stored hash does not match the record's contents")
			}
			if row.PrevHash != prevHash {
				return found(row.Seq, FindingInserted,
					"prev_hash does not match the hash of record %d: record %d was forged, or record %d replaced by a forgery",
					row.Seq-1, row.Seq, row.Seq-1)
			}
			expected, prevHash = row.Seq+1, row.Hash
		}
		if len(rows) < batch {
			break
		}
		after = rows[len(rows)-1].Seq
	}

	last := expected - 1
	switch {
	case !hasHead && last == 0:
		return nil, nil
	case !hasHead:
		return found(last, FindingHeadMismatch, "the chain head is missing")
	case head.Seq > last:
		if head.Seq == last+1 {
			moved, err := findRecord(ctx, db, head.Hash, prevHash)
			if err != nil {
				return nil, err
			}
			if moved != nil {
				return found(head.Seq, FindingEdited, "record %d was moved to %s", head.Seq, moved.where(tenantID))
			}
		}
		return found(last+1, FindingDeleted, "%s missing; the chain head is at %d", span(last+1, head.Seq), head.Seq)
	case head.Hash != prevHash:
		return found(head.Seq, FindingHeadMismatch, "the chain head's hash does not match record %d", head.Seq)
	}
	return nil, nil
}

// span names the records from..to, saying whether there is one or more.
func span(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d is", from)
	}
	return fmt.Sprintf("records %d to %d are", from, to)
}

// issuedAs returns the seq a record with the given stored hash was appended
// as in tenantID's chain, judged by what points at it: the next record's
// prev_hash or the chain head. It returns 0 when nothing points at it.
func issuedAs(ctx context.Context, db bun.IDB, tenantID, hash string, head headRow, hasHead bool) (int64, error) {
	if hash == "" {
		return 0, nil
	}
	if hasHead && head.Hash == hash {
		return head.Seq, nil
	}
	var next []int64
	if err := db.NewSelect().Model((*recordRow)(nil)).Column("seq").
		Where("tenant_id = ? AND prev_hash = ?", tenantID, hash).
		Order("seq ASC").Limit(1).
		Scan(ctx, &next); err != nil {
		return 0, fmt.Errorf("find successor record: %w", err)
	}
	if len(next) == 0 || next[0] <= 1 {
		return 0, nil
	}
	return next[0] - 1, nil
}

// findRecord returns the record, in any tenant, with the given hash and
// prev_hash, or nil.
func findRecord(ctx context.Context, db bun.IDB, hash, prevHash string) (*recordRow, error) {
	if hash == "" {
		return nil, nil
	}
	var rows []recordRow
	if err := db.NewSelect().Model(&rows).
		Where("hash = ? AND prev_hash = ?", hash, prevHash).
		Limit(1).
		Scan(ctx); err != nil {
		return nil, fmt.Errorf("find moved record: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}
