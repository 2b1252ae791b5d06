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
// instead of a transaction of four statements each (grouper). Quota slots are taken per
// tenant for the whole group (store.TakeSlots) before the group's transaction; the runs
// beyond what the quota grants get its 429, and slots of runs that were not created are
// given back after. Runs that end (commitEnds), workers' event batches (commitAppends)
// and lease claims (commitLeases) are grouped the same way.

// maxCommitters is how many groups of one kind commit at once; maxGroup bounds a group.
const (
	maxCommitters = 2
	maxGroup      = 256
)

// grouper hands the jobs that arrive together to commit as one group. There is no
// timer: a job that finds maxCommitters groups committing waits for the next group,
// which starts as soon as a committer is free, so an idle orchestrator adds no latency
// and a busy one commits in ever larger groups. commit answers each job of its group.
type grouper[J any] struct {
	commit     func(group []J)
	mu         sync.Mutex
	pending    []J
	committers int
}

// add queues j for the next group.
func (g *grouper[J]) add(j J) {
	g.mu.Lock()
	g.pending = append(g.pending, j)
	if g.committers < maxCommitters {
		g.committers++
		group := g.take()
		g.mu.Unlock()
		go g.commitLoop(group)
		return
	}
	g.mu.Unlock()
}

// take removes up to maxGroup pending jobs; g.mu is held.
func (g *grouper[J]) take() []J {
	n := min(len(g.pending), maxGroup)
	group := g.pending[:n:n]
	g.pending = g.pending[n:]
	if len(g.pending) == 0 {
		g.pending = nil
	}
	return group
}

// commitLoop commits group, then whatever queued meanwhile, until nothing is pending.
func (g *grouper[J]) commitLoop(group []J) {
	for {
		g.commit(group)
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.committers--
			g.mu.Unlock()
			return
		}
		group = g.take()
		g.mu.Unlock()
	}
}

// createJob is one run creation waiting for its group.
type createJob struct {
	run    *store.Run
	quota  store.Quota
	record audit.Record // agent_version is filled in when the agent is read
	now    time.Time
	done   chan error
}

// groupCommit writes run creations in groups.
type groupCommit struct {
	s *Service
	g grouper[*createJob]
}

// create writes the run (whose AgentVersion and Deadline the agent completes) in a group
// and returns once its group committed.
func (g *groupCommit) create(j *createJob) error {
	j.done = make(chan error, 1)
	g.g.add(j)
	return <-j.done
}

// commit takes the group's quota slots, writes the runs that got one in one
// transaction (if that fails as a whole, each run on its own, so that one bad run fails
// alone), and gives back the slots of runs that were not created.
func (g *groupCommit) commit(all []*createJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := g.takeSlots(ctx, all)
	if len(batch) == 0 {
		return
	}
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
	failed := map[string]int64{}
	for i, j := range batch {
		if err == nil {
			err := errs[i]
			if err != nil {
				failed[j.run.TenantID]++
			}
			defer func() { j.done <- err }() // after the slots are given back
			continue
		}
		failed[j.run.TenantID]++
		defer func() { j.done <- err }()
	}
	for tenant, n := range failed {
		if err := g.s.quotaWrite(ctx, func(ctx context.Context, db bun.IDB) error {
			return store.ReleaseSlots(ctx, db, tenant, n, g.s.now())
		}); err != nil {
			g.s.logger.Warn("release run quota slots", "tenant_id", tenant, "slots", n, "error", err)
		}
	}
}

// takeSlots takes each tenant's quota slots for its runs in the group, answers the runs
// that get none with the quota's error, and returns the others, in order.
func (g *groupCommit) takeSlots(ctx context.Context, all []*createJob) []*createJob {
	var tenants []string
	byTenant := map[string][]*createJob{}
	for _, j := range all {
		t := j.run.TenantID
		if _, ok := byTenant[t]; !ok {
			tenants = append(tenants, t)
		}
		byTenant[t] = append(byTenant[t], j)
	}
	granted := map[*createJob]bool{}
	for _, t := range tenants {
		jobs := byTenant[t]
		var (
			k  int64
			qe *store.QuotaError
		)
		err := g.s.quotaWrite(ctx, func(ctx context.Context, db bun.IDB) error {
			var err error
			k, qe, err = store.TakeSlots(ctx, db, t, jobs[0].quota, int64(len(jobs)), g.s.now())
			return err
		})
		for i, j := range jobs {
			switch {
			case err != nil:
				j.done <- err
			case int64(i) < k:
				granted[j] = true
			default:
				j.done <- qe
			}
		}
	}
	out := all[:0:0]
	for _, j := range all {
		if granted[j] {
			out = append(out, j)
		}
	}
	return out
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

// endJob is a worker's report that its run ended, waiting for its group.
type endJob struct {
	end    store.LeasedEnd
	record audit.Record // the run's tenant, the worker and the detail are filled in (audit)
	run    *store.Run   // the ended run, once done says nil
	done   chan error
}

// audit completes j's audit record from its ended run.
func (j *endJob) audit() audit.Record {
	rec := j.record
	rec.TenantID = j.run.TenantID
	rec.Principal = "worker:" + deref(j.run.WorkerID)
	rec.Detail = map[string]any{"status": j.run.Status, "attempt": j.run.Attempt}
	return rec
}

// commitEnds ends a group of leased runs in one transaction (store.EndLeased) with their
// audit records. If that transaction fails, each end is tried on its own, so that one
// bad end fails alone.
func (s *Service) commitEnds(group []*endJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	write := func(ctx context.Context, tx bun.Tx, group []*endJob) ([]error, error) {
		ends := make([]store.LeasedEnd, len(group))
		for i, j := range group {
			ends[i] = j.end
		}
		runs, errs, err := store.EndLeased(ctx, tx, ends, s.now())
		if err != nil {
			return nil, err
		}
		var records []audit.Record
		for i, j := range group {
			if j.run = runs[i]; errs[i] == nil {
				records = append(records, j.audit())
			}
		}
		return errs, s.audit.EnqueueAll(ctx, tx, records)
	}
	var errs []error
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		errs, err = write(ctx, tx, group)
		return err
	})
	if err != nil && len(group) > 1 {
		for _, j := range group {
			j.done <- s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				errs, err := write(ctx, tx, []*endJob{j})
				if err != nil {
					return err
				}
				return errs[0]
			})
		}
		return
	}
	for i, j := range group {
		if err != nil {
			j.done <- err
			continue
		}
		j.done <- errs[i]
	}
}
