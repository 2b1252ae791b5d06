package orchestrator_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/testbin"
)

type tokens struct{ tenant, admin, worker string }

func (t tokens) TenantHeader(context.Context, orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	if t.tenant == "" {
		return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.TenantHeader{APIKey: t.tenant}, nil
}

func (t tokens) BearerAuth(context.Context, orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
}

func (t tokens) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	if t.admin == "" {
		return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.AdminToken{Token: t.admin}, nil
}

func (t tokens) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	if t.worker == "" {
		return orchestratorapi.WorkerToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.WorkerToken{Token: t.worker}, nil
}

// TestCrashRecovery kills -9 the orchestrator while 200 runs are in flight under test
// workers, starts it again, and checks every run ends exactly once with a gap-free log.
func TestCrashRecovery(t *testing.T) {
	url := dbtest.URL(t) // skips without TEST_DATABASE_URL
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	bin, err := testbin.Agentos()
	require.NoError(t, err)
	const (
		runs    = 200
		workers = 8
		admin   = "crash-admin-token-0123456789"
		worker  = "crash-worker-token-0123456789"
		tenant  = "tnt_crash"
	)
	addr := testbin.FreePort(t)
	ready := "http://" + addr + "/v1/ready"
	p := &testbin.Process{T: t, Bin: bin, Args: []string{"serve", "orchestrator", "--orchestrator-addr", addr, "--data-dir", t.TempDir()}, Env: []string{
		"AGENTOS_DATABASE_URL=" + url, "AGENTOS_ADMIN_TOKEN=" + admin, "AGENTOS_WORKER_TOKEN=" + worker,
		"AGENTOS_LEASE_TTL=2s", "AGENTOS_SWEEP_INTERVAL=100ms", "AGENTOS_RUN_MAX_ATTEMPTS=20",
		"AGENTOS_QUOTA_RUN_CREATE_QPS=0", "AGENTOS_QUOTA_CONCURRENT_RUNS=0", "AGENTOS_AUDIT_SINK=none", "AGENTOS_LOG_LEVEL=warn",
	}}
	p.Start(ready)
	t.Cleanup(p.Kill9)
	base := "http://" + addr
	ctx := context.Background()
	hc := &http.Client{Timeout: 10 * time.Second}

	ac, err := orchestratorapi.NewClient(base, tokens{admin: admin}, orchestratorapi.WithClient(hc))
	require.NoError(t, err)
	_, err = ac.PutTenant(ctx, &orchestratorapi.TenantInput{}, orchestratorapi.PutTenantParams{TenantID: tenant})
	require.NoError(t, err)
	tc, err := orchestratorapi.NewClient(base, tokens{tenant: tenant}, orchestratorapi.WithClient(hc))
	require.NoError(t, err)
	_, err = tc.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin"}, orchestratorapi.PutAgentParams{AgentID: "crashy"})
	require.NoError(t, err)
	for i := range runs {
		_, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: fmt.Sprintf("run %d", i)}, orchestratorapi.CreateRunParams{AgentID: "crashy"})
		require.NoError(t, err)
	}

	// Workers: lease, post three events, complete; any error (the orchestrator is down, or
	// the lease was lost) drops the run, which its lapsed lease brings back.
	wc, err := orchestratorapi.NewClient(base, tokens{worker: worker}, orchestratorapi.WithClient(hc))
	require.NoError(t, err)
	var completed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: fmt.Sprintf("crash-worker-%d", i), MaxRuns: orchestratorapi.NewOptInt32(2), WaitSeconds: orchestratorapi.NewOptInt32(1)})
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				for _, lr := range res.Runs {
					ok := true
					for step := range 3 {
						_, err := wc.AppendRunEvents(ctx, &orchestratorapi.AppendEventsInput{
							LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken, BatchID: orchestratorapi.NewOptString(fmt.Sprintf("s%d", step)),
							Events: []orchestratorapi.WorkerEvent{{Type: orchestratorapi.WorkerEventTypeModelDelta}},
						}, orchestratorapi.AppendRunEventsParams{RunID: lr.Run.RunID})
						if err != nil {
							ok = false
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
					if !ok {
						continue
					}
					if _, err := wc.CompleteRun(ctx, &orchestratorapi.CompleteInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken, Output: "ok"},
						orchestratorapi.CompleteRunParams{RunID: lr.Run.RunID}); err == nil {
						completed.Add(1)
					}
				}
			}
		})
	}

	// Kill the orchestrator mid-flight, twice, and start it again each time.
	for kill := range 2 {
		target := int64(40 + kill*60)
		require.Eventually(t, func() bool { return completed.Load() >= target }, 60*time.Second, 10*time.Millisecond)
		p.Kill9()
		time.Sleep(300 * time.Millisecond)
		p.Start(ready)
	}

	d, err := db.Open(ctx, url, "")
	require.NoError(t, err)
	defer d.Close()
	require.Eventually(t, func() bool {
		n, err := d.NewSelect().Table("runs").Where("status IN ('queued', 'running', 'cancelling')").Count(ctx)
		return err == nil && n == 0
	}, 120*time.Second, 100*time.Millisecond, "every run must end")
	close(stop)
	wg.Wait()

	// Exactly one terminal event per run, the last one; seqs 1..last_seq without gaps.
	var rows []struct {
		ID        string `bun:"id"`
		Status    string `bun:"status"`
		LastSeq   int64  `bun:"last_seq"`
		Events    int64  `bun:"events"`
		MaxSeq    int64  `bun:"max_seq"`
		Terminals int64  `bun:"terminals"`
		LastType  string `bun:"last_type"`
	}
	err = d.NewRaw(`SELECT r.id, r.status, r.last_seq,
		(SELECT count(*) FROM run_events e WHERE e.run_id = r.id) AS events,
		(SELECT coalesce(max(seq), 0) FROM run_events e WHERE e.run_id = r.id) AS max_seq,
		(SELECT count(*) FROM run_events e WHERE e.run_id = r.id AND e.type IN ('run.completed', 'run.failed', 'run.cancelled', 'run.timed_out')) AS terminals,
		(SELECT e.type FROM run_events e WHERE e.run_id = r.id ORDER BY seq DESC LIMIT 1) AS last_type
		FROM runs r`).Scan(ctx, &rows)
	require.NoError(t, err)
	require.Len(t, rows, runs)
	statuses := map[string]int{}
	for _, r := range rows {
		statuses[r.Status]++
		require.Equal(t, int64(1), r.Terminals, "run %s has %d terminal events", r.ID, r.Terminals)
		require.Equal(t, r.LastSeq, r.Events, "run %s: %d events for last_seq %d", r.ID, r.Events, r.LastSeq)
		require.Equal(t, r.LastSeq, r.MaxSeq, "run %s: gap in seqs", r.ID)
		require.Equal(t, "run."+r.Status, r.LastType, "run %s ended %s but its last event is %s", r.ID, r.Status, r.LastType)
	}
	t.Logf("after two kill -9 restarts: %v (workers completed %d)", statuses, completed.Load())
	require.Equal(t, runs, statuses["completed"], "every run completes: no lease is lost for good, the attempts allow for the outages")
}
