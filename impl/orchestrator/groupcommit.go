package orchestrator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/audit"
)

// Run creations that arrive together are written together on PostgreSQL: one
// transaction (one WAL flush) and one multi-row insert per table for the whole group,
// instead of a transaction of four statements each. There is no timer: a creation that
// finds a group committing waits for the next one, which starts as soon as a committer
// is free, so an idle orchestrator adds no latency and a busy one commits in ever larger
// groups. The quota slot is taken before, per run, as without grouping.

// maxCommitters is how many groups commit at once; maxGroup bounds a group.
const (
	maxCommitters = 4
	maxGroup      = 256
)

// createJob is one run creation waiting for its group.
type createJob struct {
	run    *store.Run
	record audit.Record // agent_version is filled in when the agent is read
	now    time.Time
	done   chan error
}

type groupCommit struct {
	s          *Service
	mu         sync.Mutex
	pending    []*createJob
	committers int
}

// create writes the run (whose AgentVersion and Deadline the agent completes) in a group
// and returns once its group committed.
func (g *groupCommit) create(j *createJob) error {
	j.done = make(chan error, 1)
	g.mu.Lock()
	g.pending = append(g.pending, j)
	if g.committers < maxCommitters {
		g.committers++
		batch := g.take()
		g.mu.Unlock()
		go g.commitLoop(batch)
	} else {
		g.mu.Unlock()
	}
	return <-j.done
}

// take removes up to maxGroup pending jobs; g.mu is held.
func (g *groupCommit) take() []*createJob {
	n := min(len(g.pending), maxGroup)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	if len(g.pending) == 0 {
		g.pending = nil
	}
	return batch
}

// commitLoop commits batch, then whatever queued meanwhile, until nothing is pending.
func (g *groupCommit) commitLoop(batch []*createJob) {
	for {
		g.commit(batch)
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.committers--
			g.mu.Unlock()
			return
		}
		batch = g.take()
		g.mu.Unlock()
	}
}

// commit writes a group in one transaction. If that fails as a whole, each run is
// written on its own, so that one bad run fails alone.
func (g *groupCommit) commit(batch []*createJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, len(batch))
	err := g.s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		clear(errs)
		return g.write(ctx, tx, batch, errs)
	})
	if err != nil && len(batch) > 1 {
		for i, j := range batch {
			errs[i] = g.s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				one := []error{nil}
				if err := g.write(ctx, tx, []*createJob{j}, one); err != nil {
					return err
				}
				return one[0]
			})
		}
		err = nil
	}
	for i, j := range batch {
		if err != nil {
			j.done <- err
		} else {
			j.done <- errs[i]
		}
	}
}

// write reads each run's agent (a run of an unknown agent gets its 404 in errs and is
// left out) and inserts the audit records, runs and first events of the others.
func (g *groupCommit) write(ctx context.Context, tx bun.Tx, batch []*createJob, errs []error) error {
	type key struct{ tenant, agent string }
	agents := map[key]*store.Agent{}
	var (
		runs    []*store.Run
		records []audit.Record
	)
	for i, j := range batch {
		k := key{j.run.TenantID, j.run.AgentID}
		a, ok := agents[k]
		if !ok {
			got, err := store.LatestAgent(ctx, tx, k.tenant, k.agent)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			default:
				a = &got
			}
			agents[k] = a
		}
		if a == nil {
			errs[i] = apierr.NotFound("agent", j.run.AgentID)
			continue
		}
		completeRun(j.run, *a, j.now)
		j.record.Detail["agent_version"] = a.Version
		runs = append(runs, j.run)
		records = append(records, j.record)
	}
	if len(runs) == 0 {
		return nil
	}
	if err := g.s.audit.EnqueueAll(ctx, tx, records); err != nil {
		return err
	}
	return store.CreateRuns(ctx, tx, runs)
}

// completeRun sets what a run takes from its agent: the version, and the agent's timeout
// as its deadline when that comes first.
func completeRun(run *store.Run, agent store.Agent, now time.Time) {
	run.AgentVersion = agent.Version
	if t := agent.Spec.Limits.TimeoutSeconds; t > 0 {
		limit := now.Add(time.Duration(t) * time.Second)
		if run.Deadline == nil || limit.Before(*run.Deadline) {
			run.Deadline = &limit
		}
	}
}
