package orchestrator_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/nodetest"
	"github.com/nexixai/agentos/internal/platform"
)

// Concurrent run creations on PostgreSQL are committed in groups: every run of a known
// agent is created once, with its first event and its agent version, and a run of an
// unknown agent in the same group gets its own 404 without failing the others.
func TestGroupedRunCreation(t *testing.T) {
	t.Parallel()
	dsn := dbtest.URL(t) // skips without TEST_DATABASE_URL
	cfg := testConfig(t)
	cfg.DatabaseURL = dsn
	cfg.QuotaRunCreateQPS, cfg.QuotaConcurrentRuns = 0, 0
	node, _ := nodetest.Serve(t, cfg)
	ctx := context.Background()

	c, err := orchestratorapi.NewClient(node.URL(platform.Orchestrator), tokens{tenant: cfg.DefaultTenant},
		orchestratorapi.WithClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}))
	require.NoError(t, err)
	for _, v := range []string{"v1", "v2"} { // version 2 is the one runs get
		_, err = c.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Instructions: orchestratorapi.NewOptString(v)},
			orchestratorapi.PutAgentParams{AgentID: "grouped"})
		require.NoError(t, err)
	}

	const good, bad = 160, 40
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = map[orchestratorapi.RunId]bool{}
		missing int
	)
	for i := range good + bad {
		wg.Go(func() {
			agent := orchestratorapi.AgentId("grouped")
			if i%5 == 0 {
				agent = "no-such-agent"
			}
			res, err := c.CreateRun(ctx, &orchestratorapi.RunInput{Input: "x"}, orchestratorapi.CreateRunParams{AgentID: agent})
			mu.Lock()
			defer mu.Unlock()
			var p *orchestratorapi.ProblemStatusCode
			switch {
			case err == nil && agent == "grouped":
				created[res.Response.RunID] = true
			case errors.As(err, &p) && p.StatusCode == http.StatusNotFound && agent != "grouped":
				missing++
			default:
				t.Errorf("create run of %s: %v", agent, err)
			}
		})
	}
	wg.Wait()
	require.Len(t, created, good)
	require.Equal(t, bad, missing)

	listed := 0
	params := orchestratorapi.ListRunsParams{Limit: orchestratorapi.NewOptInt32(100)}
	for {
		page, err := c.ListRuns(ctx, params)
		require.NoError(t, err)
		for _, r := range page.Items {
			require.True(t, created[r.RunID], "an unexpected run %s", r.RunID)
			require.EqualValues(t, 2, r.AgentVersion)
			require.Equal(t, orchestratorapi.RunStatusQueued, r.Status)
			listed++
		}
		next, ok := page.NextCursor.Get()
		if !ok || next == "" {
			break
		}
		params.Cursor = orchestratorapi.NewOptString(next)
	}
	require.Equal(t, good, listed)
	for id := range created {
		ev, err := c.GetRunEvents(ctx, orchestratorapi.GetRunEventsParams{RunID: id, Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON)})
		require.NoError(t, err)
		evs := ev.(*orchestratorapi.RunEventPage).Events
		require.Len(t, evs, 1)
		require.Equal(t, "run.queued", evs[0].Type)
		require.EqualValues(t, 1, evs[0].Seq)
		break // one is enough: they were inserted by the same statements
	}
}
