package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

func createRuns(t *testing.T, d *db.DB, tenant string, n int) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range n {
		r := &store.Run{ID: store.NewRunID(time.Now()), TenantID: tenant, AgentID: "a", AgentVersion: 1, Input: fmt.Sprint(i), MaxAttempts: 3, CreatedAt: time.Now()}
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return store.CreateRuns(ctx, tx, []*store.Run{r}) }))
		ids[i] = r.ID
	}
	return ids
}

// Concurrent claimers never lease the same run twice, and together lease every run.
func TestClaimRunsConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		const runs, claimers = 120, 6
		ids := createRuns(t, d, "tnt_claim", runs)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for c := range claimers {
			wg.Go(func() {
				for {
					var got []*store.Run
					err := d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
						var err error
						got, err = store.ClaimRuns(ctx, tx, fmt.Sprintf("w%d", c), 5, time.Minute, time.Now())
						return err
					})
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						seen[r.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Len(t, seen, runs)
		for _, id := range ids {
			require.Equal(t, 1, seen[id], "run %s leased %d times", id, seen[id])
		}
	})
}

// A stale fencing token changes nothing; the current one completes the run once.
func TestFencing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		id := createRuns(t, d, "tnt_fence", 1)[0]
		leased := leaseRuns(t, d, 1)
		lease := *leased[0].LeaseID
		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, err := store.EndLeasedRun(ctx, tx, store.LeasedEnd{RunID: id, LeaseID: lease, Token: leased[0].Attempt + 1, Output: "forged"}, time.Now())
			return err
		})
		require.ErrorIs(t, err, store.ErrLeaseLost)
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, err := store.EndLeasedRun(ctx, tx, store.LeasedEnd{RunID: id, LeaseID: lease, Token: leased[0].Attempt, Output: "real",
				Usage: [2]int64{1, 2}, Events: []store.NewEvent{{Type: "model.message"}}}, time.Now())
			return err
		}))
		err = d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, err := store.EndLeasedRun(ctx, tx, store.LeasedEnd{RunID: id, LeaseID: lease, Token: leased[0].Attempt, Output: "again"}, time.Now())
			return err
		})
		require.ErrorIs(t, err, store.ErrLeaseLost, "a completed run's lease is gone")
		r, err := store.GetRun(ctx, d.DB, "tnt_fence", id)
		require.NoError(t, err)
		require.Equal(t, store.StatusCompleted, r.Status)
		require.Equal(t, "real", *r.Output)
		evs, err := store.ListEvents(ctx, d.DB, id, 0, 100)
		require.NoError(t, err)
		require.Len(t, evs, 4)
		for i, e := range evs {
			require.Equal(t, int64(i+1), e.Seq)
		}
		require.Equal(t, "model.message", evs[2].Type, "the completion's own events come just before its terminal event")
		require.Equal(t, store.EventCompleted, evs[3].Type)
	})
}

// The quota counter admits exactly the limit under concurrent takers.
func TestTakeSlotConcurrent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		const limit, takers = 7, 30
		var mu sync.Mutex
		took, refused := 0, 0
		var wg sync.WaitGroup
		for range takers {
			wg.Go(func() {
				err := quota(d, func(ctx context.Context, idb bun.IDB) error {
					return store.TakeSlot(ctx, idb, "tnt_slots", store.Quota{MaxActive: limit}, time.Now())
				})
				mu.Lock()
				defer mu.Unlock()
				var qe *store.QuotaError
				switch {
				case err == nil:
					took++
				case errorsAs(err, &qe):
					refused++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, limit, took)
		require.Equal(t, takers-limit, refused)

		require.NoError(t, quota(d, func(ctx context.Context, idb bun.IDB) error {
			return store.ReleaseSlots(ctx, idb, "tnt_slots", 1, time.Now())
		}))
		require.NoError(t, quota(d, func(ctx context.Context, idb bun.IDB) error {
			return store.TakeSlot(ctx, idb, "tnt_slots", store.Quota{MaxActive: limit}, time.Now())
		}), "a released slot can be taken again")

		// No run exists, so once the tenant is quiet reconciliation resets the count.
		n, err := store.ReconcileSlots(context.Background(), d.DB, 0, time.Now().Add(time.Second))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		require.NoError(t, quota(d, func(ctx context.Context, idb bun.IDB) error {
			return store.TakeSlot(ctx, idb, "tnt_slots", store.Quota{MaxActive: 1}, time.Now())
		}))
	})
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// leaseRuns leases the n oldest queued runs to worker "w" and checks it got n.
func leaseRuns(t *testing.T, d *db.DB, n int) []*store.Run {
	t.Helper()
	var leased []*store.Run
	require.NoError(t, d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		var err error
		leased, err = store.ClaimRuns(ctx, tx, "w", n, time.Minute, time.Now())
		return err
	}))
	require.Len(t, leased, n)
	return leased
}

// quota runs fn as the orchestrator does (Service.quotaWrite): on the pool on
// PostgreSQL, in a transaction on SQLite.
func quota(d *db.DB, fn func(ctx context.Context, idb bun.IDB) error) error {
	ctx := context.Background()
	if d.Dialect == db.DialectPostgres {
		return fn(ctx, d.DB)
	}
	return d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return fn(ctx, tx) })
}

// Concurrent first takers of a tenant's slots, racing to create its quota row, all
// succeed when nothing limits them (a row created meanwhile is not a refusal).
func TestTakeSlotFirstRace(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		for round := range 5 {
			tenant := fmt.Sprintf("tnt_race_%d", round)
			var wg sync.WaitGroup
			errs := make([]error, 20)
			for i := range errs {
				wg.Go(func() {
					errs[i] = quota(d, func(ctx context.Context, idb bun.IDB) error {
						return store.TakeSlot(ctx, idb, tenant, store.Quota{}, time.Now())
					})
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
		}
	})
}

// Replacing a memory item keeps its creation time; expired items are neither read nor
// searched, and are purged.
func TestMemoryItems(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		t0 := time.Now().Add(-time.Hour)
		first := &store.MemoryItem{TenantID: "tnt_m", Namespace: "ns", Key: "k", Value: "one", Embedding: "[1,0]"}
		require.NoError(t, store.PutMemory(ctx, d.DB, first, t0))
		again := &store.MemoryItem{TenantID: "tnt_m", Namespace: "ns", Key: "k", Value: "two", Embedding: "[0,1]"}
		require.NoError(t, store.PutMemory(ctx, d.DB, again, time.Now()))
		got, err := store.GetMemory(ctx, d.DB, "tnt_m", "ns", "k", time.Now())
		require.NoError(t, err)
		require.Equal(t, "two", got.Value)
		require.WithinDuration(t, t0, got.CreatedAt, time.Second, "the creation time survives a replace")
		require.True(t, got.UpdatedAt.After(got.CreatedAt))

		exp := time.Now().Add(-time.Minute)
		require.NoError(t, store.PutMemory(ctx, d.DB, &store.MemoryItem{TenantID: "tnt_m", Namespace: "ns", Key: "old", Value: "gone", Embedding: "[0,1]", ExpiresAt: &exp}, time.Now()))
		_, err = store.GetMemory(ctx, d.DB, "tnt_m", "ns", "old", time.Now())
		require.ErrorIs(t, err, store.ErrNotFound)
		matches, err := store.SearchMemory(ctx, d.DB, "tnt_m", "ns", []float64{0, 1}, 10, time.Now())
		require.NoError(t, err)
		require.Len(t, matches, 1)
		require.Equal(t, "k", matches[0].Key)
		require.InDelta(t, 1.0, matches[0].Score, 1e-9)
		n, err := store.PurgeMemory(ctx, d.DB, 100, time.Now())
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = store.GetMemory(ctx, d.DB, "tnt_other", "ns", "k", time.Now())
		require.ErrorIs(t, err, store.ErrNotFound, "another tenant's item is not found")
	})
}

// On PostgreSQL a batch under the current lease is appended in one statement with the
// next seqs; a stale token, a repeated batch id or another lease leaves the fast path
// (ok false) and writes nothing.
func TestAppendLeasedFastPath(t *testing.T) {
	t.Parallel()
	d := dbtest.Postgres(t)
	ctx := context.Background()
	id := createRuns(t, d, "tnt_fast", 1)[0]
	leased := leaseRuns(t, d, 1)
	lease, token := *leased[0].LeaseID, leased[0].Attempt
	events := []store.NewEvent{{Type: "model.delta", Data: []byte(`{"text":"a"}`)}, {Type: "model.message"}}

	r, ok, err := store.AppendLeased(ctx, d.DB, id, lease, token, "b1", events, time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(4), r.LastSeq, "run.queued, run.started, then the two")
	for _, stale := range []struct {
		lease string
		token int32
		batch string
	}{{lease, token + 1, "b2"}, {"lse_other", token, "b2"}, {lease, token, "b1"}} {
		_, ok, err := store.AppendLeased(ctx, d.DB, id, stale.lease, stale.token, stale.batch, events, time.Now())
		require.NoError(t, err)
		require.False(t, ok, "%+v", stale)
	}
	r, ok, err = store.AppendLeased(ctx, d.DB, id, lease, token, "", events[:1], time.Now())
	require.NoError(t, err)
	require.True(t, ok, "no batch id: always appended")
	require.Equal(t, int64(5), r.LastSeq)

	evs, err := store.ListEvents(ctx, d.DB, id, 0, 100)
	require.NoError(t, err)
	var types []string
	for i, e := range evs {
		require.Equal(t, int64(i+1), e.Seq)
		types = append(types, e.Type)
	}
	require.Equal(t, []string{"run.queued", "run.started", "model.delta", "model.message", "model.delta"}, types)
	require.JSONEq(t, `{"text":"a"}`, evs[2].Data)
	require.JSONEq(t, `{}`, evs[3].Data)
}

// TakeSlots grants what the limits leave of a group's request and says which limit
// refused the rest; ReleaseSlots gives slots back.
func TestTakeSlotsForAGroup(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		take := func(tenant string, q store.Quota, n int64, now time.Time) (int64, *store.QuotaError) {
			var (
				k  int64
				qe *store.QuotaError
			)
			require.NoError(t, quota(d, func(ctx context.Context, idb bun.IDB) error {
				var err error
				k, qe, err = store.TakeSlots(ctx, idb, tenant, q, n, now)
				return err
			}))
			return k, qe
		}
		now := time.Unix(1_800_000_000, 0)
		active := store.Quota{MaxActive: 5}
		k, qe := take("tnt_group_a", active, 3, now)
		require.Equal(t, int64(3), k)
		require.Nil(t, qe)
		k, qe = take("tnt_group_a", active, 4, now)
		require.Equal(t, int64(2), k)
		require.ErrorIs(t, qe, store.ErrQuotaActive)
		k, qe = take("tnt_group_a", active, 1, now)
		require.Zero(t, k)
		require.ErrorIs(t, qe, store.ErrQuotaActive)
		require.NoError(t, quota(d, func(ctx context.Context, idb bun.IDB) error {
			return store.ReleaseSlots(ctx, idb, "tnt_group_a", 2, now)
		}))
		k, qe = take("tnt_group_a", active, 2, now)
		require.Equal(t, int64(2), k, "the two given back are free again")
		require.Nil(t, qe)

		rate := store.Quota{QPS: 4}
		k, qe = take("tnt_group_b", rate, 6, now)
		require.Equal(t, int64(4), k)
		require.ErrorIs(t, qe, store.ErrQuotaRate)
		require.Positive(t, qe.RetryAfter)
		k, qe = take("tnt_group_b", rate, 3, now.Add(time.Second))
		require.Equal(t, int64(3), k, "a new second, a new window")
		require.Nil(t, qe)
	})
}

// EndLeased ends a group of leased runs at once: each end whose lease is current ends
// its run (completed, failed, or cancelled when cancellation was requested) with its
// events; a stale token, an unknown run and a second end of one run get their own error
// and change nothing.
func TestEndLeasedGroup(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ids := createRuns(t, d, "tnt_ends", 4)
		leased := leaseRuns(t, d, 4)
		byID := map[string]*store.Run{}
		for _, r := range leased {
			require.Equal(t, store.StatusRunning, r.Status)
			require.Equal(t, int32(1), r.Attempt)
			require.Equal(t, "w", *r.WorkerID)
			byID[r.ID] = r
		}
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, _, err := store.CancelRun(ctx, tx, "tnt_ends", ids[2], time.Now())
			return err
		}))
		end := func(i int) store.LeasedEnd {
			r := byID[ids[i]]
			return store.LeasedEnd{RunID: r.ID, LeaseID: *r.LeaseID, Token: r.Attempt}
		}
		ok := end(0)
		ok.Output, ok.Usage, ok.Events = "done", [2]int64{3, 4}, []store.NewEvent{{Type: "model.message", Data: []byte(`{"content":"done"}`)}}
		failed := end(1)
		failed.Failed, failed.ErrorCode, failed.ErrorMessage = true, "tool_error", "boom"
		cancelled := end(2)
		cancelled.Failed, cancelled.ErrorCode = true, "cancelled"
		stale := end(3)
		stale.Token++
		unknown := store.LeasedEnd{RunID: "run_unknown", LeaseID: "lse_x", Token: 1}
		var (
			runs []*store.Run
			errs []error
		)
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			runs, errs, err = store.EndLeased(ctx, tx, []store.LeasedEnd{ok, failed, cancelled, stale, unknown, ok}, time.Now())
			return err
		}))
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		require.NoError(t, errs[2])
		require.ErrorIs(t, errs[3], store.ErrLeaseLost)
		require.ErrorIs(t, errs[4], store.ErrNotFound)
		require.ErrorIs(t, errs[5], store.ErrLeaseLost, "a second end of one run")

		want := []struct {
			status, lastEvent string
			seqs              int
		}{{store.StatusCompleted, store.EventCompleted, 4}, {store.StatusFailed, store.EventFailed, 3}, {store.StatusCancelled, store.EventCancelled, 4}, {store.StatusRunning, store.EventStarted, 2}}
		for i, w := range want {
			r, err := store.GetRun(ctx, d.DB, "tnt_ends", ids[i])
			require.NoError(t, err)
			require.Equal(t, w.status, r.Status, "run %d", i)
			evs, err := store.ListEvents(ctx, d.DB, ids[i], 0, 100)
			require.NoError(t, err)
			require.Len(t, evs, w.seqs, "run %d", i)
			for k, e := range evs {
				require.Equal(t, int64(k+1), e.Seq)
			}
			require.Equal(t, w.lastEvent, evs[len(evs)-1].Type)
			require.Equal(t, int64(w.seqs), r.LastSeq)
			if i < 3 {
				require.Equal(t, r.Status, runs[i].Status)
				require.Nil(t, r.LeaseID, "an ended run has no lease")
				require.NotNil(t, r.EndedAt)
			}
		}
		r, err := store.GetRun(ctx, d.DB, "tnt_ends", ids[0])
		require.NoError(t, err)
		require.Equal(t, "done", *r.Output)
		require.Equal(t, [2]int64{3, 4}, [2]int64{r.PromptTokens, r.CompletionTokens})
		require.Nil(t, r.ErrorCode)
		r, err = store.GetRun(ctx, d.DB, "tnt_ends", ids[1])
		require.NoError(t, err)
		require.Equal(t, "tool_error", *r.ErrorCode)
		require.Equal(t, "boom", *r.ErrorMessage)
		require.Nil(t, r.Output)
		evs, err := store.ListEvents(ctx, d.DB, ids[2], 0, 100)
		require.NoError(t, err)
		require.Equal(t, []string{store.EventQueued, store.EventStarted, store.EventCancelling, store.EventCancelled},
			[]string{evs[0].Type, evs[1].Type, evs[2].Type, evs[3].Type})
		require.JSONEq(t, `{"attempt":1,"worker_id":"w"}`, evs[1].Data)
	})
}

// One claim serves several lease requests: the oldest runs go to the first requests,
// each run is leased to its request's worker (its row and its run.started event say
// so), and a request left without runs gets none.
func TestClaimForSeveralRequests(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ids := createRuns(t, d, "tnt_claims", 6)
		var got [][]*store.Run
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			got, err = store.Claim(ctx, tx, []store.ClaimRequest{{WorkerID: "w1", N: 2}, {WorkerID: `w"2`, N: 3}, {WorkerID: "w3", N: 5}, {WorkerID: "w4", N: 1}}, time.Minute, time.Now())
			return err
		}))
		require.Len(t, got, 4)
		want := map[string][]string{"w1": ids[0:2], `w"2`: ids[2:5], "w3": ids[5:6]}
		leases := map[string]bool{}
		for i, worker := range []string{"w1", `w"2`, "w3"} {
			var runIDs []string
			for _, r := range got[i] {
				runIDs = append(runIDs, r.ID)
				require.Equal(t, worker, *r.WorkerID)
				require.Equal(t, store.StatusRunning, r.Status)
				require.False(t, leases[*r.LeaseID], "lease ids are unique")
				leases[*r.LeaseID] = true
				evs, err := store.ListEvents(ctx, d.DB, r.ID, 1, 10)
				require.NoError(t, err)
				require.Len(t, evs, 1)
				require.Equal(t, store.EventStarted, evs[0].Type)
				var data struct {
					Attempt  int32  `json:"attempt"`
					WorkerID string `json:"worker_id"`
				}
				require.NoError(t, json.Unmarshal([]byte(evs[0].Data), &data))
				require.Equal(t, worker, data.WorkerID)
				require.Equal(t, int32(1), data.Attempt)
			}
			require.Equal(t, want[worker], runIDs, worker)
		}
		require.Empty(t, got[3], "no run is left for the last request")
	})
}

// On PostgreSQL the batches of several runs are appended in one statement, each with
// its run's next seqs; a second batch for one run, a stale lease and an empty batch are
// left to the caller (nil) and change nothing.
func TestAppendLeasedMany(t *testing.T) {
	t.Parallel()
	d := dbtest.Postgres(t)
	ctx := context.Background()
	ids := createRuns(t, d, "tnt_many", 3)
	leased := leaseRuns(t, d, 3)
	batch := func(r *store.Run, types ...string) store.LeasedAppend {
		b := store.LeasedAppend{RunID: r.ID, LeaseID: *r.LeaseID, Token: r.Attempt}
		for _, typ := range types {
			b.Events = append(b.Events, store.NewEvent{Type: typ, Data: []byte(`{"of":"` + r.ID + `"}`)})
		}
		return b
	}
	stale := batch(leased[2], "model.delta")
	stale.Token++
	runs, err := store.AppendLeasedMany(ctx, d.DB, []store.LeasedAppend{
		batch(leased[0], "model.delta", "model.message"),
		batch(leased[1], "tool.call"),
		batch(leased[0], "model.delta"), // a second batch for run 0
		stale,
		batch(leased[2]), // empty
	}, time.Now())
	require.NoError(t, err)
	require.Len(t, runs, 5)
	require.Equal(t, ids[0], runs[0].ID)
	require.Equal(t, int64(4), runs[0].LastSeq)
	require.Equal(t, ids[1], runs[1].ID)
	require.Equal(t, int64(3), runs[1].LastSeq)
	require.Nil(t, runs[2])
	require.Nil(t, runs[3])
	require.Nil(t, runs[4])
	for i, want := range [][]string{{"run.queued", "run.started", "model.delta", "model.message"}, {"run.queued", "run.started", "tool.call"}, {"run.queued", "run.started"}} {
		evs, err := store.ListEvents(ctx, d.DB, ids[i], 0, 100)
		require.NoError(t, err)
		var types []string
		for k, e := range evs {
			require.Equal(t, int64(k+1), e.Seq)
			types = append(types, e.Type)
			if k >= 2 {
				require.JSONEq(t, `{"of":"`+ids[i]+`"}`, e.Data, "each run gets its own events")
			}
		}
		require.Equal(t, want, types)
	}
}

// Runs created together (PostgreSQL: one prepared statement from arrays) read back as
// they were written, each with its run.queued event at seq 1.
func TestCreateRunsTogether(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		deadline := now.Add(time.Hour)
		runs := []*store.Run{
			{ID: store.NewRunID(now), TenantID: "tnt_together", AgentID: "a", AgentVersion: 3, Input: "first é", MaxAttempts: 2, CreatedAt: now, Metadata: `{"k":"v"}`},
			{ID: store.NewRunID(now), TenantID: "tnt_together", AgentID: "b", AgentVersion: 1, Input: "", MaxAttempts: 5, CreatedAt: now, Deadline: &deadline},
			{ID: store.NewRunID(now), TenantID: "tnt_together_2", AgentID: "a", AgentVersion: 7, Input: "third", MaxAttempts: 1, CreatedAt: now},
		}
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return store.CreateRuns(ctx, tx, runs) }))
		for _, want := range runs {
			got, err := store.GetRun(ctx, d.DB, want.TenantID, want.ID)
			require.NoError(t, err)
			require.Equal(t, store.StatusQueued, got.Status)
			require.Equal(t, []any{want.AgentID, want.AgentVersion, want.Input, want.MaxAttempts, want.Metadata, int64(1), int32(0)},
				[]any{got.AgentID, got.AgentVersion, got.Input, got.MaxAttempts, got.Metadata, got.LastSeq, got.Attempt})
			require.True(t, got.CreatedAt.Equal(now), "%s", got.CreatedAt)
			if want.Deadline == nil {
				require.Nil(t, got.Deadline)
			} else {
				require.True(t, got.Deadline.Equal(deadline))
			}
			require.Nil(t, got.Output)
			require.Nil(t, got.LeaseID)
			require.Zero(t, got.PromptTokens)
			evs, err := store.ListEvents(ctx, d.DB, want.ID, 0, 10)
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.Equal(t, []any{int64(1), store.EventQueued, want.TenantID}, []any{evs[0].Seq, evs[0].Type, evs[0].TenantID})
			require.JSONEq(t, fmt.Sprintf(`{"attempt":0,"agent_version":%d}`, want.AgentVersion), evs[0].Data)
			require.True(t, evs[0].Time.Equal(now))
		}
		_, err := store.GetRun(ctx, d.DB, "tnt_together", runs[2].ID)
		require.ErrorIs(t, err, store.ErrNotFound, "another tenant's run")
	})
}

// On PostgreSQL, the lookups of runs and their events (a run read, an event page, an
// append, an end) are planned at every execution, never kept as named prepared
// statements whose generic plan was made while the table was nearly empty: such a plan
// scans the whole table, and PostgreSQL keeps it as the table grows until the next
// ANALYZE. Inserts and the claim are kept (their plans do not depend on the data).
func TestRunLookupsArePlannedEachTime(t *testing.T) {
	t.Parallel()
	d := dbtest.Postgres(t)
	d.SetMaxOpenConns(1) // one session, whose prepared statements pg_prepared_statements lists
	ctx := context.Background()
	ids := createRuns(t, d, "tnt_plans", 2)
	leased := leaseRuns(t, d, 2)
	r := leased[0]
	_, err := store.GetRun(ctx, d.DB, "tnt_plans", ids[0])
	require.NoError(t, err)
	_, err = store.ListEvents(ctx, d.DB, r.ID, 0, 10)
	require.NoError(t, err)
	_, err = store.AppendLeasedMany(ctx, d.DB, []store.LeasedAppend{{RunID: r.ID, LeaseID: *r.LeaseID, Token: r.Attempt,
		Events: []store.NewEvent{{Type: "model.delta", Data: []byte(`{"text":"x"}`)}}}}, time.Now())
	require.NoError(t, err)
	require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		_, _, err := store.EndLeased(ctx, tx, []store.LeasedEnd{{RunID: r.ID, LeaseID: *r.LeaseID, Token: r.Attempt, Output: "done"}}, time.Now())
		return err
	}))
	var named []string
	require.NoError(t, d.NewRaw("SELECT statement FROM pg_prepared_statements").Scan(ctx, &named))
	var kept []string
	for _, s := range named {
		switch {
		case strings.Contains(s, "INSERT INTO runs"), strings.Contains(s, "status = 'queued'"):
			kept = append(kept, "insert or claim")
		case strings.Contains(s, "FROM runs"), strings.Contains(s, "UPDATE runs"), strings.Contains(s, "FROM run_events"):
			t.Errorf("a lookup kept as a prepared statement: %s", s)
		}
	}
	require.NotEmpty(t, kept, "the creation and the claim are prepared statements (the check above sees the session)")
}
