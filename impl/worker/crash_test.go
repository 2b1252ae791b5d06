package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/testbin"
)

// TestWorkerCrashLoop kills -9 the worker process 50 times while 200 runs, each with
// two tool calls, are in flight on PostgreSQL, then lets one worker finish. Every run
// must end exactly once, completed with the right answer, with a gap-free log, and no
// tool call may run again once its tool.result is recorded.
func TestWorkerCrashLoop(t *testing.T) {
	url := dbtest.URL(t) // skips without TEST_DATABASE_URL
	if testing.Short() {
		t.Skip("crash loop skipped in -short mode")
	}
	bin, err := testbin.Agentos()
	require.NoError(t, err)
	const (
		runs   = 200
		kills  = 50
		token  = "crash-loop-worker-token-0123456789"
		tenant = "tnt_demo"
	)
	orchAddr, mpAddr := testbin.FreePort(t), testbin.FreePort(t)
	orchURL, mpURL := "http://"+orchAddr, "http://"+mpAddr
	server := &testbin.Process{T: t, Bin: bin, Args: []string{"serve", "--workers", "0", "--data-dir", t.TempDir(),
		"--orchestrator-addr", orchAddr, "--modelpolicy-addr", mpAddr, "--federation-addr", testbin.FreePort(t)},
		Env: []string{"AGENTOS_DATABASE_URL=" + url, "AGENTOS_WORKER_TOKEN=" + token,
			"AGENTOS_LEASE_TTL=1s", "AGENTOS_SWEEP_INTERVAL=50ms", "AGENTOS_RUN_MAX_ATTEMPTS=100",
			"AGENTOS_QUOTA_RUN_CREATE_QPS=0", "AGENTOS_QUOTA_CONCURRENT_RUNS=0", "AGENTOS_QUOTA_INVOKE_QPS=0",
			"AGENTOS_QUOTA_TOKENS_PER_MINUTE=0", "AGENTOS_AUDIT_SINK=none", "AGENTOS_LOG_LEVEL=warn"}}
	server.Start(orchURL + "/v1/ready")
	t.Cleanup(server.Kill9)

	ctx := context.Background()
	hc := &http.Client{Timeout: 30 * time.Second}
	c, err := orchestratorapi.NewClient(orchURL, creds{tenant: tenant}, orchestratorapi.WithClient(hc))
	require.NoError(t, err)
	builtin := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)
	_, err = c.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat",
		Tools: []orchestratorapi.Tool{{Name: "calculator", Type: builtin}}}, orchestratorapi.PutAgentParams{AgentID: "crashy"})
	require.NoError(t, err)
	want := map[orchestratorapi.RunId]string{}
	create := func(i int) {
		res, err := c.CreateRun(ctx, &orchestratorapi.RunInput{
			Input: fmt.Sprintf("/tool calculator {\"expression\": \"%d + 1\"}\n/tool calculator {\"expression\": \"%d * 2\"}", i, i),
		}, orchestratorapi.CreateRunParams{AgentID: "crashy"})
		require.NoError(t, err)
		want[res.Response.RunID] = fmt.Sprintf("The tools returned: %d; %d", i+1, i*2)
	}
	const upfront = runs / 2
	for i := range upfront {
		create(i)
	}

	worker := func() *testbin.Process {
		return &testbin.Process{T: t, Bin: bin, Args: []string{"worker", "--concurrency", "4",
			"--orchestrator-url", orchURL, "--modelpolicy-url", mpURL}, Env: []string{"AGENTOS_WORKER_TOKEN=" + token, "AGENTOS_LOG_LEVEL=error"}}
	}
	d, err := db.Open(ctx, url, "")
	require.NoError(t, err)
	defer d.Close()
	terminal := func() int {
		n, err := d.NewSelect().Table("runs").Where("status IN ('completed', 'failed', 'cancelled', 'timed_out')").Count(ctx)
		require.NoError(t, err)
		return int(n)
	}

	// Kill the worker at random moments, 50 times; each time a new one starts and picks
	// up, after their leases lapse, the runs the last one held. Half the runs are
	// created up front, the rest two before each kill, so that every kill finds runs in
	// flight however fast the machine executes them.
	next := upfront
	for k := range kills {
		for range (runs - upfront) / kills {
			create(next)
			next++
		}
		w := worker()
		w.Start("")
		time.Sleep(time.Duration(20+rand.IntN(180)) * time.Millisecond)
		w.Kill9()
		if k%10 == 9 {
			t.Logf("after %d kills: %d/%d runs ended", k+1, terminal(), runs)
		}
	}
	w := worker()
	w.Start("")
	t.Cleanup(w.Kill9)
	require.Eventually(t, func() bool { return terminal() == runs }, 3*time.Minute, 100*time.Millisecond, "every run must end")

	// Each run: completed with its answer, exactly one terminal event (the last), seqs
	// 1..last_seq without gaps.
	var rows []struct {
		ID        string `bun:"id"`
		Status    string `bun:"status"`
		Output    string `bun:"output"`
		Attempt   int    `bun:"attempt"`
		LastSeq   int64  `bun:"last_seq"`
		Events    int64  `bun:"events"`
		MaxSeq    int64  `bun:"max_seq"`
		Terminals int64  `bun:"terminals"`
	}
	err = d.NewRaw(`SELECT r.id, r.status, coalesce(r.output, '') AS output, r.attempt, r.last_seq,
		(SELECT count(*) FROM run_events e WHERE e.run_id = r.id) AS events,
		(SELECT coalesce(max(seq), 0) FROM run_events e WHERE e.run_id = r.id) AS max_seq,
		(SELECT count(*) FROM run_events e WHERE e.run_id = r.id AND e.type IN ('run.completed', 'run.failed', 'run.cancelled', 'run.timed_out')) AS terminals
		FROM runs r`).Scan(ctx, &rows)
	require.NoError(t, err)
	require.Equal(t, runs, next)
	require.Len(t, rows, runs)
	retried := 0
	for _, r := range rows {
		require.Equal(t, "completed", r.Status, "run %s (attempt %d)", r.ID, r.Attempt)
		require.Equal(t, want[orchestratorapi.RunId(r.ID)], r.Output, "run %s", r.ID)
		require.Equal(t, int64(1), r.Terminals, "run %s has %d terminal events", r.ID, r.Terminals)
		require.Equal(t, r.LastSeq, r.Events, "run %s: %d events for last_seq %d", r.ID, r.Events, r.LastSeq)
		require.Equal(t, r.LastSeq, r.MaxSeq, "run %s: gap in seqs", r.ID)
		if r.Attempt > 1 {
			retried++
		}
	}

	// No tool call after its tool.result: once a result is recorded, that call id never
	// appears again in a tool.call or tool.result event.
	var events []struct {
		RunID  string `bun:"run_id"`
		Seq    int64  `bun:"seq"`
		Type   string `bun:"type"`
		CallID string `bun:"call_id"`
	}
	err = d.NewRaw(`SELECT run_id, seq, type, coalesce(data::jsonb->>'id', '') AS call_id FROM run_events
		WHERE type IN ('tool.call', 'tool.result') ORDER BY run_id, seq`).Scan(ctx, &events)
	require.NoError(t, err)
	done := map[string]int64{} // run/call -> seq of its tool.result
	results := 0
	for _, e := range events {
		key := e.RunID + "/" + e.CallID
		if seq, ok := done[key]; ok {
			t.Fatalf("run %s: %s of call %s at seq %d after its tool.result at seq %d", e.RunID, e.Type, e.CallID, e.Seq, seq)
		}
		if e.Type == "tool.result" {
			done[key] = e.Seq
			results++
		}
	}
	require.Equal(t, 2*runs, results, "two tool results per run")
	require.Positive(t, retried, "some kills must land in the middle of runs, or nothing was resumed")
	t.Logf("%d kill -9s: %d/%d runs completed, %d of them on a later attempt; %s tool results, none repeated",
		kills, runs, runs, retried, strconv.Itoa(results))
}
