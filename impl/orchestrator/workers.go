package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/runtoken"
)

// LeaseRuns implements leaseRuns: claim queued runs, long-polling up to wait_seconds.
func (s *Service) LeaseRuns(ctx context.Context, req *orchestratorapi.LeaseInput) (*orchestratorapi.LeaseResult, error) {
	n := int(req.MaxRuns.Or(1))
	wait := time.Duration(req.WaitSeconds.Or(0)) * time.Second
	deadline := time.Now().Add(wait)
	for {
		queued := s.hub.QueueChanged() // before claiming, so a run queued meanwhile wakes us
		runs, err := s.claim(ctx, req.WorkerID, n)
		if err != nil {
			return nil, err
		}
		if len(runs) > 0 || wait == 0 {
			return &orchestratorapi.LeaseResult{Runs: runs}, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return &orchestratorapi.LeaseResult{Runs: []orchestratorapi.LeasedRun{}}, nil
		}
		// Poll now and then as well: a run can become claimable without a notification
		// (another process requeued it and the LISTEN connection was down).
		t := time.NewTimer(min(left, 2*time.Second))
		select {
		case <-queued:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
	}
}

// leaseJob is a lease request's claim, waiting for its group (commitLeases): a queued
// run wakes every waiting lease request at once, and their claims are one statement.
type leaseJob struct {
	req    store.ClaimRequest
	runs   []*store.Run
	agents []store.Agent   // the agent version of each run
	steps  [][]store.Event // of each resumed run, the steps earlier attempts recorded
	err    error
	done   chan struct{}
}

// commitLeases claims runs for a group of lease requests in one transaction.
func (s *Service) commitLeases(group []*leaseJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reqs := make([]store.ClaimRequest, len(group))
	for i, j := range group {
		reqs[i] = j.req
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		claimed, err := store.Claim(ctx, tx, reqs, s.cfg.LeaseTTL, s.now())
		if err != nil {
			return err
		}
		for i, j := range group {
			j.runs = claimed[i]
			j.agents = make([]store.Agent, len(j.runs))
			j.steps = make([][]store.Event, len(j.runs))
			for k, r := range j.runs {
				if j.agents[k], err = s.versions.get(ctx, tx, r); err != nil {
					return err
				}
				if r.Attempt > 1 {
					if j.steps[k], err = store.StepEvents(ctx, tx, r.ID); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	for _, j := range group {
		if err != nil {
			j.runs, j.err = nil, err
		}
		close(j.done)
	}
}

func (s *Service) claim(ctx context.Context, workerID string, n int) ([]orchestratorapi.LeasedRun, error) {
	j := &leaseJob{req: store.ClaimRequest{WorkerID: workerID, N: n}, done: make(chan struct{})}
	s.leases.add(j)
	<-j.done
	if j.err != nil {
		return nil, j.err
	}
	runs, agents, steps := j.runs, j.agents, j.steps
	out := make([]orchestratorapi.LeasedRun, len(runs))
	for i, r := range runs {
		access, err := s.runToken(r)
		if err != nil {
			return nil, err
		}
		history := make([]orchestratorapi.RunEvent, len(steps[i]))
		for j, e := range steps[i] {
			history[j] = eventToAPI(e)
		}
		s.publishedRun(r)
		s.metrics.leaseGrants.Inc()
		s.metrics.runTransitions.WithLabelValues(store.StatusRunning).Inc()
		out[i] = orchestratorapi.LeasedRun{
			Run:     runToAPI(r),
			Agent:   agentToAPI(agents[i]),
			Lease:   orchestratorapi.Lease{LeaseID: *r.LeaseID, FencingToken: r.Attempt, ExpiresAt: *r.LeaseExpiresAt, AccessToken: access},
			History: history,
		}
	}
	return out, nil
}

func leaseLost(err error) error {
	if errors.Is(err, store.ErrLeaseLost) {
		return apierr.New(apierr.CodeLeaseLost, "lease lost: it lapsed, was superseded by a newer attempt, or the run ended")
	}
	if errors.Is(err, store.ErrNotFound) {
		return apierr.New(apierr.CodeNotFound, "no such run")
	}
	return err
}

// HeartbeatLease implements heartbeatLease.
func (s *Service) HeartbeatLease(ctx context.Context, req *orchestratorapi.HeartbeatInput, params orchestratorapi.HeartbeatLeaseParams) (*orchestratorapi.HeartbeatResult, error) {
	var run *store.Run
	err := s.db.Write(ctx, func(ctx context.Context, db bun.IDB) error {
		var err error
		run, err = store.Heartbeat(ctx, db, params.LeaseID, req.FencingToken, s.cfg.LeaseTTL, s.now())
		return err
	})
	if err != nil {
		return nil, leaseLost(err)
	}
	access, err := s.runToken(run)
	if err != nil {
		return nil, err
	}
	return &orchestratorapi.HeartbeatResult{ExpiresAt: *run.LeaseExpiresAt, CancelRequested: run.CancelRequested, AccessToken: access}, nil
}

// runToken mints the run token of r's lease: the worker's credential for Model Policy and
// the memory API in r's tenant, expiring with the lease (none without a signer).
func (s *Service) runToken(r *store.Run) (orchestratorapi.OptString, error) {
	if s.cfg.RunTokens == nil || r.LeaseExpiresAt == nil {
		return orchestratorapi.OptString{}, nil
	}
	tok, err := s.cfg.RunTokens.Sign(runtoken.Claims{
		TenantID: r.TenantID, RunID: r.ID, WorkerID: deref(r.WorkerID), Attempt: r.Attempt,
		// Rounded up to the second: rounded down, a lease of 1 s (the shortest allowed)
		// could start with a token that expired before the first heartbeat renewed it.
		Exp: r.LeaseExpiresAt.Add(time.Second - time.Nanosecond).Unix(),
	})
	if err != nil {
		return orchestratorapi.OptString{}, err
	}
	return orchestratorapi.NewOptString(tok), nil
}

// AppendRunEvents implements appendRunEvents.
func (s *Service) AppendRunEvents(ctx context.Context, req *orchestratorapi.AppendEventsInput, params orchestratorapi.AppendRunEventsParams) (*orchestratorapi.AppendEventsResult, error) {
	events, err := workerEvents(req.Events)
	if err != nil {
		return nil, err
	}
	j := &appendJob{batch: store.LeasedAppend{RunID: string(params.RunID), LeaseID: req.LeaseID, Token: req.FencingToken,
		BatchID: req.BatchID.Or(""), Events: events}, done: make(chan struct{})}
	s.appends.add(j)
	<-j.done
	if j.err != nil {
		return nil, leaseLost(j.err)
	}
	s.publishedRun(j.run)
	return &orchestratorapi.AppendEventsResult{LastSeq: j.run.LastSeq, CancelRequested: j.run.CancelRequested}, nil
}

// appendJob is a batch of worker events waiting for its group (commitAppends).
type appendJob struct {
	batch store.LeasedAppend
	run   *store.Run
	err   error
	done  chan struct{}
}

// commitAppends appends the batches of a group: on PostgreSQL in one statement
// (store.AppendLeasedMany). The batches that statement leaves (a lease not current, a
// repeated batch, a second batch for one run; all of them on SQLite, or when the
// statement fails as a whole) go through the transactional path, which says why.
func (s *Service) commitAppends(group []*appendJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batches := make([]store.LeasedAppend, len(group))
	for i, j := range group {
		batches[i] = j.batch
	}
	runs, err := store.AppendLeasedMany(ctx, s.db.DB, batches, s.now())
	var left []*appendJob
	for i, j := range group {
		switch {
		case err != nil && len(group) == 1:
			j.err = err
		case err == nil && runs[i] != nil:
			j.run = runs[i]
		default:
			left = append(left, j)
		}
	}
	s.appendTogether(ctx, left)
	for _, j := range group {
		close(j.done)
	}
}

// appendTogether appends batches through the transactional path, all in one
// transaction (on SQLite, one commit of the single writer for the group). A lease error
// stays with its batch; any other error has each batch tried on its own, so that one
// bad batch fails alone.
func (s *Service) appendTogether(ctx context.Context, jobs []*appendJob) {
	if len(jobs) == 0 {
		return
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, j := range jobs {
			b := j.batch
			j.run, j.err = store.WorkerAppend(ctx, tx, b.RunID, b.LeaseID, b.Token, b.BatchID, b.Events, s.now())
			if j.err != nil && !errors.Is(j.err, store.ErrLeaseLost) && !errors.Is(j.err, store.ErrNotFound) {
				return j.err
			}
		}
		return nil
	})
	if err != nil && len(jobs) > 1 {
		for _, j := range jobs {
			j.run, j.err = s.appendAlone(ctx, j.batch)
		}
	} else if err != nil {
		jobs[0].run, jobs[0].err = nil, err
	}
}

// appendAlone appends one batch in a transaction of its own.
func (s *Service) appendAlone(ctx context.Context, b store.LeasedAppend) (*store.Run, error) {
	var run *store.Run
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		run, err = store.WorkerAppend(ctx, tx, b.RunID, b.LeaseID, b.Token, b.BatchID, b.Events, s.now())
		return err
	})
	return run, err
}

// workerEvents converts a batch of worker events for storage.
func workerEvents(in []orchestratorapi.WorkerEvent) ([]store.NewEvent, error) {
	events := make([]store.NewEvent, len(in))
	for i, e := range in {
		data := map[string]json.RawMessage{}
		for k, v := range e.Data.Or(nil) {
			data[k] = json.RawMessage(v)
		}
		raw, err := json.Marshal(data)
		if err != nil {
			return nil, apierr.InvalidField("events", "event data is not valid JSON")
		}
		events[i] = store.NewEvent{Type: string(e.Type), Data: raw}
	}
	return events, nil
}

// CompleteRun implements completeRun.
func (s *Service) CompleteRun(ctx context.Context, req *orchestratorapi.CompleteInput, params orchestratorapi.CompleteRunParams) (*orchestratorapi.Run, error) {
	events, err := workerEvents(req.Events)
	if err != nil {
		return nil, err
	}
	return s.endRun(ctx, "run.complete", store.LeasedEnd{RunID: string(params.RunID), LeaseID: req.LeaseID, Token: req.FencingToken,
		Output: req.Output, Usage: usageOf(req.Usage), Events: events})
}

// FailRun implements failRun.
func (s *Service) FailRun(ctx context.Context, req *orchestratorapi.FailInput, params orchestratorapi.FailRunParams) (*orchestratorapi.Run, error) {
	events, err := workerEvents(req.Events)
	if err != nil {
		return nil, err
	}
	return s.endRun(ctx, "run.fail", store.LeasedEnd{RunID: string(params.RunID), LeaseID: req.LeaseID, Token: req.FencingToken,
		Failed: true, ErrorCode: req.Error.Code, ErrorMessage: req.Error.Message, Usage: usageOf(req.Usage), Events: events})
}

// endRun ends a leased run as its worker reports, audited as action, in a group with
// the other ends that arrive meanwhile (commitEnds; on SQLite too, where a group is one
// transaction of the single writer instead of one each).
func (s *Service) endRun(ctx context.Context, action string, end store.LeasedEnd) (*orchestratorapi.Run, error) {
	j := &endJob{end: end, record: s.auditRecord(ctx, "", action, "runs/"+end.RunID, nil), done: make(chan error, 1)}
	s.ends.add(j)
	if err := <-j.done; err != nil {
		return nil, leaseLost(err)
	}
	s.finished(j.run)
	out := runToAPI(j.run)
	return &out, nil
}

func (s *Service) finished(r *store.Run) {
	if store.Terminal(r.Status) {
		s.releaseSlot(r.TenantID)
	}
	s.publishedRun(r)
	s.metrics.runTransitions.WithLabelValues(r.Status).Inc()
}

func usageOf(u orchestratorapi.OptUsage) [2]int64 {
	if v, ok := u.Get(); ok {
		return [2]int64{v.PromptTokens, v.CompletionTokens}
	}
	return [2]int64{}
}

// versionCache keeps agent versions, which never change once stored, for leases.
type versionCache struct {
	mu sync.Mutex
	m  map[string]store.Agent
}

const versionCacheSize = 4096

func (c *versionCache) get(ctx context.Context, tx bun.IDB, r *store.Run) (store.Agent, error) {
	key := r.TenantID + "\x00" + r.AgentID + "\x00" + strconv.FormatInt(r.AgentVersion, 10)
	c.mu.Lock()
	a, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return a, nil
	}
	a, err := store.AgentVersion(ctx, tx, r.TenantID, r.AgentID, r.AgentVersion, time.Time{})
	if err != nil {
		return a, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= versionCacheSize {
		c.m = make(map[string]store.Agent, 64)
	}
	c.m[key] = a
	c.mu.Unlock()
	return a, nil
}
