package audit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func newRecord(tenantID string, i int) audit.Record {
	return audit.Record{
		TenantID:  tenantID,
		Time:      t0.Add(time.Duration(i) * time.Second),
		Principal: "usr_admin",
		Action:    "tenant.put",
		Resource:  "tenants/" + tenantID,
		Outcome:   audit.OutcomeSuccess,
		RequestID: fmt.Sprintf("req_%d", i),
		Detail:    map[string]any{"i": i, "nested": map[string]any{"b": []any{1, "x"}, "a": 0.25}},
	}
}

// appendN appends n records to tenantID's chain, each in its own transaction.
func appendN(t *testing.T, d *db.DB, tenantID string, n int) []audit.Record {
	t.Helper()
	ctx := context.Background()
	out := make([]audit.Record, 0, n)
	for i := range n {
		var rec audit.Record
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			rec, err = audit.Append(ctx, tx, newRecord(tenantID, i))
			return err
		}))
		out = append(out, rec)
	}
	return out
}

func requireChain(t *testing.T, recs []audit.Record) {
	t.Helper()
	prev := ""
	for i, r := range recs {
		require.EqualValues(t, i+1, r.Seq)
		require.Equal(t, prev, r.PrevHash, "seq %d", r.Seq)
		require.Equal(t, r.ComputeHash(), r.Hash, "seq %d", r.Seq)
		prev = r.Hash
	}
}

func verify(t *testing.T, d *db.DB, tenantID string) []audit.Finding {
	t.Helper()
	f, err := audit.Verify(context.Background(), d.DB, tenantID)
	require.NoError(t, err)
	return f
}

func TestAppendChainVerifies(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		recs := appendN(t, d, "tnt_a", 10)
		requireChain(t, recs)
		require.True(t, recs[0].Time.Equal(t0.Truncate(time.Microsecond)))
		require.Equal(t, time.UTC, recs[0].Time.Location())
		require.Empty(t, recs[0].PrevHash)

		require.Nil(t, verify(t, d, "tnt_a"))
		require.Nil(t, verify(t, d, ""))
		require.Nil(t, verify(t, d, "tnt_nobody"), "a tenant without a chain is intact")
	})
}

func TestAppendDefaultsAndDetail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		before := time.Now().UTC().Truncate(time.Microsecond)
		type payload struct {
			Name  string    `json:"name"`
			At    time.Time `json:"at"`
			Large int64     `json:"large"`
		}
		rec, err := audit.Append(ctx, d.DB, audit.Record{ // no tx: Append opens one
			TenantID: "tnt_a",
			Action:   "run.create",
			Outcome:  audit.OutcomeDenied,
			Detail:   map[string]any{"p": payload{Name: "<n>", At: t0, Large: math.MaxInt64}, "f": 0.1},
		})
		require.NoError(t, err)
		require.EqualValues(t, 1, rec.Seq)
		require.False(t, rec.Time.Before(before), "zero Time is set to now")

		rec2, err := audit.Append(ctx, d.DB, audit.Record{TenantID: "tnt_a", Action: "x.y", Outcome: audit.OutcomeFailure})
		require.NoError(t, err)
		require.EqualValues(t, 2, rec2.Seq)
		require.Equal(t, rec.Hash, rec2.PrevHash)
		require.Nil(t, verify(t, d, ""), "details of any shape verify after the round trip")
	})
}

func TestAppendValidation(t *testing.T) {
	t.Parallel()
	d := dbtest.SQLite(t)
	ctx := context.Background()
	ok := audit.Record{TenantID: "tnt_a", Action: "a.b", Outcome: audit.OutcomeSuccess}
	for name, edit := range map[string]func(*audit.Record){
		"tenant_id": func(r *audit.Record) { r.TenantID = "" },
		"action":    func(r *audit.Record) { r.Action = "" },
		"outcome":   func(r *audit.Record) { r.Outcome = "maybe" },
		"detail":    func(r *audit.Record) { r.Detail = map[string]any{"x": math.Inf(1)} },
	} {
		r := ok
		edit(&r)
		_, err := audit.Append(ctx, d.DB, r)
		require.ErrorContains(t, err, name, name)
	}
	require.Nil(t, verify(t, d, ""))
}

func TestAppendRollsBackWithTx(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, err := audit.Append(ctx, tx, newRecord("tnt_a", 0))
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.Nil(t, verify(t, d, ""))

		recs := appendN(t, d, "tnt_a", 1)
		require.EqualValues(t, 1, recs[0].Seq, "the rolled-back record took no seq")
	})
}

func TestAppendConcurrent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		const n = 50
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
					_, err := audit.Append(ctx, tx, newRecord("tnt_busy", i))
					return err
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "append %d", i)
		}

		var seqs []int64
		require.NoError(t, d.NewSelect().Table("audit_records").Column("seq").
			Where("tenant_id = ?", "tnt_busy").Order("seq").Scan(ctx, &seqs))
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i + 1)
		}
		require.Equal(t, want, seqs)
		require.Nil(t, verify(t, d, "tnt_busy"))
	})
}

func TestChainsIndependent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var a, b []audit.Record
		for i := range 4 {
			ra, err := audit.Append(ctx, d.DB, newRecord("tnt_a", i))
			require.NoError(t, err)
			rb, err := audit.Append(ctx, d.DB, newRecord("tnt_b", i))
			require.NoError(t, err)
			a, b = append(a, ra), append(b, rb)
		}
		requireChain(t, a)
		requireChain(t, b)

		_, err := d.NewUpdate().Table("audit_records").Set("principal = ?", "mallory").
			Where("tenant_id = ? AND seq = ?", "tnt_a", 2).Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, []audit.Finding{{TenantID: "tnt_a", Seq: 2, Kind: audit.FindingEdited,
			Detail: "stored hash does not match the record's contents"}}, verify(t, d, ""))
		require.Nil(t, verify(t, d, "tnt_b"))
	})
}

// tamperCase changes a clean chain of five records in tenant tnt_x and
// names the finding Verify must report first.
type tamperCase struct {
	name   string
	tamper func(t *testing.T, d *db.DB, recs []audit.Record)
	seq    int64
	kind   string
}

func exec(t *testing.T, d *db.DB, query string, args ...any) {
	t.Helper()
	res, err := d.NewRaw(query, args...).Exec(context.Background())
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, query)
}

func setField(col string, value any, seq int64) func(t *testing.T, d *db.DB, recs []audit.Record) {
	return func(t *testing.T, d *db.DB, _ []audit.Record) {
		exec(t, d, "UPDATE audit_records SET ? = ? WHERE tenant_id = 'tnt_x' AND seq = ?", bun.Ident(col), value, seq)
	}
}

func forge(seq int64, link func(recs []audit.Record) string, rehash bool) func(t *testing.T, d *db.DB, recs []audit.Record) {
	return func(t *testing.T, d *db.DB, recs []audit.Record) {
		r := newRecord("tnt_x", 99)
		r.Time = r.Time.Truncate(time.Microsecond)
		r.Seq, r.PrevHash, r.Principal = seq, link(recs), "mallory"
		r.Detail = map[string]any{"i": 99}
		r.Hash = "0000"
		if rehash {
			r.Hash = r.ComputeHash()
		}
		exec(t, d, `INSERT INTO audit_records (tenant_id, seq, "time", principal, action, resource, outcome, request_id, detail, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.TenantID, r.Seq, r.Time, r.Principal, r.Action, r.Resource, r.Outcome, r.RequestID, `{"i":99}`, r.PrevHash, r.Hash)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	cases := []tamperCase{
		{"edit time", setField("time", t0.Add(time.Hour), 3), 3, audit.FindingEdited},
		{"edit principal", setField("principal", "mallory", 3), 3, audit.FindingEdited},
		{"edit action", setField("action", "tenant.get", 3), 3, audit.FindingEdited},
		{"edit resource", setField("resource", "tenants/other", 3), 3, audit.FindingEdited},
		{"edit outcome", setField("outcome", audit.OutcomeFailure, 3), 3, audit.FindingEdited},
		{"edit request_id", setField("request_id", "req_forged", 3), 3, audit.FindingEdited},
		{"edit detail", setField("detail", `{"i":3,"extra":true}`, 3), 3, audit.FindingEdited},
		{"edit detail to non-object", setField("detail", `[]`, 3), 3, audit.FindingEdited},
		{"edit prev_hash", setField("prev_hash", "0000", 3), 3, audit.FindingEdited},
		{"edit hash", setField("hash", "0000", 3), 3, audit.FindingEdited},
		{"edit first record", setField("principal", "mallory", 1), 1, audit.FindingEdited},
		{"edit newest record", setField("principal", "mallory", 5), 5, audit.FindingEdited},
		{"edit seq of middle record upwards", setField("seq", 1000, 3), 3, audit.FindingEdited},
		{"edit seq of middle record to zero", setField("seq", 0, 3), 3, audit.FindingEdited},
		{"edit seq of newest record", setField("seq", 1000, 5), 5, audit.FindingEdited},
		{"edit tenant_id of middle record", setField("tenant_id", "tnt_elsewhere", 3), 3, audit.FindingEdited},
		{"edit tenant_id of newest record", setField("tenant_id", "tnt_elsewhere", 5), 5, audit.FindingEdited},
		{"delete middle record", func(t *testing.T, d *db.DB, _ []audit.Record) {
			exec(t, d, "DELETE FROM audit_records WHERE tenant_id = 'tnt_x' AND seq = 3")
		}, 3, audit.FindingDeleted},
		{"delete two middle records", func(t *testing.T, d *db.DB, _ []audit.Record) {
			exec(t, d, "DELETE FROM audit_records WHERE tenant_id = 'tnt_x' AND seq = 2")
			exec(t, d, "DELETE FROM audit_records WHERE tenant_id = 'tnt_x' AND seq = 3")
		}, 2, audit.FindingDeleted},
		{"delete first record", func(t *testing.T, d *db.DB, _ []audit.Record) {
			exec(t, d, "DELETE FROM audit_records WHERE tenant_id = 'tnt_x' AND seq = 1")
		}, 1, audit.FindingDeleted},
		{"delete newest record", func(t *testing.T, d *db.DB, _ []audit.Record) {
			exec(t, d, "DELETE FROM audit_records WHERE tenant_id = 'tnt_x' AND seq = 5")
		}, 5, audit.FindingDeleted},
		{"delete every record", func(t *testing.T, d *db.DB, _ []audit.Record) {
			_, err := d.NewRaw("DELETE FROM audit_records WHERE tenant_id = 'tnt_x'").Exec(context.Background())
			require.NoError(t, err)
		}, 1, audit.FindingDeleted},
		{"insert forged record after newest", forge(6, func(r []audit.Record) string { return r[4].Hash }, true), 6, audit.FindingInserted},
		{"insert sloppy forged record after newest", forge(6, func([]audit.Record) string { return "x" }, false), 6, audit.FindingInserted},
		{"insert forged record far ahead", forge(42, func(r []audit.Record) string { return r[4].Hash }, true), 42, audit.FindingInserted},
		{"insert forged record before first", forge(0, func([]audit.Record) string { return "" }, true), 0, audit.FindingInserted},
		{"replace middle record with forgery", func(t *testing.T, d *db.DB, recs []audit.Record) {
			exec(t, d, "DELETE FROM audit_records WHERE tenant_id = 'tnt_x' AND seq = 3")
			forge(3, func(r []audit.Record) string { return r[1].Hash }, true)(t, d, recs)
		}, 4, audit.FindingInserted},
		{"delete head", func(t *testing.T, d *db.DB, _ []audit.Record) {
			exec(t, d, "DELETE FROM audit_heads WHERE tenant_id = 'tnt_x'")
		}, 5, audit.FindingHeadMismatch},
		{"edit head hash", func(t *testing.T, d *db.DB, _ []audit.Record) {
			exec(t, d, "UPDATE audit_heads SET hash = '0000' WHERE tenant_id = 'tnt_x'")
		}, 5, audit.FindingHeadMismatch},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		// One database per backend; each case gets its own schema-free
		// playground by working in a fresh copy of tenant tnt_x.
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				for _, table := range []string{"audit_records", "audit_heads"} {
					_, err := d.NewRaw("DELETE FROM ?", bun.Ident(table)).Exec(ctx)
					require.NoError(t, err)
				}
				recs := appendN(t, d, "tnt_x", 5)
				appendN(t, d, "tnt_bystander", 2)
				require.Nil(t, verify(t, d, ""))

				tc.tamper(t, d, recs)

				findings := verify(t, d, "tnt_x")
				require.Len(t, findings, 1, "%+v", findings)
				f := findings[0]
				require.Equal(t, "tnt_x", f.TenantID)
				require.Equal(t, tc.kind, f.Kind, f.Detail)
				require.Equal(t, tc.seq, f.Seq, f.Detail)
				require.NotEmpty(t, f.Detail)
				t.Log(f.Detail)

				require.Nil(t, verify(t, d, "tnt_bystander"))
				require.Contains(t, verify(t, d, ""), f)
			})
		}
	})
}
