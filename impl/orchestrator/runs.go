package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/impl/orchestrator/stream"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
)

// CreateRun implements createRun. Idempotency is handled in front of it (idempotency.go).
func (s *Service) CreateRun(ctx context.Context, req *orchestratorapi.RunInput, params orchestratorapi.CreateRunParams) (*orchestratorapi.RunHeaders, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	var wait time.Duration
	if v, ok := params.Wait.Get(); ok {
		if wait, err = parseWait("wait", v, maxCreateWait); err != nil {
			return nil, err
		}
	}
	now := s.now()
	agentID := string(params.AgentID)
	quota, err := s.quotas.get(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	metadata := "{}"
	if m, ok := req.Metadata.Get(); ok && len(m) > 0 {
		b, err := json.Marshal(map[string]string(m))
		if err != nil {
			return nil, err
		}
		metadata = string(b)
	}
	run := &store.Run{
		ID:          store.NewRunID(now),
		TenantID:    p.TenantID,
		AgentID:     agentID,
		Input:       req.Input,
		MaxAttempts: s.cfg.MaxAttempts,
		Metadata:    metadata,
	}
	if d, ok := req.Deadline.Get(); ok {
		if !d.After(now) {
			return nil, apierr.InvalidField("deadline", "must be in the future")
		}
		run.Deadline = &d
	}
	if secs, ok := req.TimeoutSeconds.Get(); ok {
		if limit := now.Add(time.Duration(secs) * time.Second); run.Deadline == nil || limit.Before(*run.Deadline) {
			run.Deadline = &limit
		}
	}
	run.CreatedAt = now
	record := s.auditRecord(ctx, p.TenantID, "run.create", "runs/"+run.ID, map[string]any{"agent_id": agentID})
	var sub *stream.Sub
	if wait > 0 {
		sub = s.hub.Watch(run.ID) // before the run exists, so that none of its events is missed
		defer sub.Close()
	}
	if s.db.Dialect == db.DialectPostgres {
		err = s.group.create(&createJob{run: run, quota: quota, record: record, now: now})
	} else {
		err = s.createOne(ctx, run, quota, record, now)
	}
	if err != nil {
		var qe *store.QuotaError
		if errors.As(err, &qe) {
			s.metrics.quotaRejections.WithLabelValues(quotaKind(qe)).Inc()
			secs := max(1, int(qe.RetryAfter.Round(time.Second)/time.Second))
			return nil, &apierr.Error{Code: apierr.CodeRateLimited, Message: qe.Error(), RetryAfter: secs}
		}
		return nil, err
	}
	s.queued()
	s.metrics.runTransitions.WithLabelValues(store.StatusQueued).Inc()
	if sub != nil {
		// The run exists whatever happens now: a client that went away, or a failed
		// read at the end of the wait, still gets (and an idempotent replay still
		// finds) the run as created.
		if ended, err := s.await(ctx, sub, run, wait); err == nil {
			run = ended
		}
	}
	return &orchestratorapi.RunHeaders{Response: runToAPI(run)}, nil
}

// createOne creates a run on its own: its quota slot in a short transaction, then the
// run in another (SQLite, where one writer at a time makes groups pointless).
func (s *Service) createOne(ctx context.Context, run *store.Run, quota store.Quota, record audit.Record, now time.Time) error {
	if err := s.takeSlot(ctx, run.TenantID, quota, now); err != nil {
		return err
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		agent, err := store.LatestAgent(ctx, tx, run.TenantID, run.AgentID)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.NotFound("agent", run.AgentID)
		}
		if err != nil {
			return err
		}
		completeRun(run, agent, now)
		record.Detail["agent_version"] = agent.Version
		if err := s.audit.Enqueue(ctx, tx, record); err != nil {
			return err
		}
		return store.CreateRuns(ctx, tx, []*store.Run{run})
	})
	if err != nil {
		s.releaseSlot(run.TenantID) // the run was not created
	}
	return err
}

// takeSlot reserves a run slot of the tenant, apart from the run's transaction.
func (s *Service) takeSlot(ctx context.Context, tenantID string, q store.Quota, now time.Time) error {
	return s.quotaWrite(ctx, func(ctx context.Context, db bun.IDB) error {
		return store.TakeSlot(ctx, db, tenantID, q, now)
	})
}

// quotaWrite runs fn, which takes or gives back quota slots (store.TakeSlots), on the
// pool on PostgreSQL and in a transaction of its own on SQLite.
func (s *Service) quotaWrite(ctx context.Context, fn func(ctx context.Context, db bun.IDB) error) error {
	if s.db.Dialect == db.DialectPostgres {
		return fn(ctx, s.db.DB)
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return fn(ctx, tx) })
}

// releaseSlot gives a run slot back and returns once it is back. Releases that arrive
// together are written together (one UPDATE per tenant), so completions of one tenant
// do not queue one by one on its quota row. A failure is logged (the sweeper's
// reconciliation repairs the count).
func (s *Service) releaseSlot(tenantID string) {
	s.releases.release(tenantID)
}

// slotReleases coalesces quota-slot releases, with no timer: a release that finds a
// flush under way waits for the next, which starts when that one is done.
type slotReleases struct {
	s        *Service
	mu       sync.Mutex
	pending  map[string]int64
	waiters  []chan struct{}
	flushing bool
}

func (r *slotReleases) release(tenantID string) {
	done := make(chan struct{})
	r.mu.Lock()
	if r.pending == nil {
		r.pending = map[string]int64{}
	}
	r.pending[tenantID]++
	r.waiters = append(r.waiters, done)
	if !r.flushing {
		r.flushing = true
		go r.flushLoop()
	}
	r.mu.Unlock()
	<-done
}

func (r *slotReleases) flushLoop() {
	for {
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.flushing = false
			r.mu.Unlock()
			return
		}
		pending, waiters := r.pending, r.waiters
		r.pending, r.waiters = nil, nil
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.s.quotaWrite(ctx, func(ctx context.Context, db bun.IDB) error {
			for tenant, n := range pending {
				if err := store.ReleaseSlots(ctx, db, tenant, n, r.s.now()); err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			r.s.logger.Warn("release run quota slots", "tenants", len(pending), "error", err)
		}
		for _, w := range waiters {
			close(w)
		}
	}
}

func quotaKind(qe *store.QuotaError) string {
	if errors.Is(qe, store.ErrQuotaActive) {
		return "concurrent_runs"
	}
	return "run_create_qps"
}

// GetRun implements getRun.
func (s *Service) GetRun(ctx context.Context, params orchestratorapi.GetRunParams) (*orchestratorapi.Run, error) {
	r, err := s.tenantRun(ctx, string(params.RunID))
	if err != nil {
		return nil, err
	}
	out := runToAPI(r)
	return &out, nil
}

func (s *Service) tenantRun(ctx context.Context, runID string) (*store.Run, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	r, err := store.GetRun(ctx, s.db.DB, p.TenantID, runID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.NotFound("run", runID)
	}
	return r, err
}

// ListRuns implements listRuns.
func (s *Service) ListRuns(ctx context.Context, params orchestratorapi.ListRunsParams) (*orchestratorapi.RunList, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	f := store.RunFilter{AgentID: string(params.AgentID.Or(""))}
	for _, st := range params.Status {
		f.Statuses = append(f.Statuses, string(st))
	}
	if t, ok := params.CreatedAfter.Get(); ok {
		f.CreatedAfter = &t
	}
	if t, ok := params.CreatedBefore.Get(); ok {
		f.CreatedBefore = &t
	}
	runs, next, err := store.ListRuns(ctx, s.db.DB, p.TenantID, f, int(params.Limit.Or(50)), params.Cursor.Or(""))
	if errors.Is(err, store.ErrBadCursor) {
		return nil, apierr.InvalidField("cursor", "not a cursor returned by this operation")
	}
	if err != nil {
		return nil, err
	}
	out := &orchestratorapi.RunList{Items: make([]orchestratorapi.Run, 0, len(runs))}
	for _, r := range runs {
		out.Items = append(out.Items, runToAPI(r))
	}
	if next != "" {
		out.NextCursor = orchestratorapi.NewOptString(next)
	}
	return out, nil
}

// CancelRun implements cancelRun.
func (s *Service) CancelRun(ctx context.Context, params orchestratorapi.CancelRunParams) (*orchestratorapi.Run, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	runID := string(params.RunID)
	var (
		run     *store.Run
		changed bool
	)
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		run, changed, err = store.CancelRun(ctx, tx, p.TenantID, runID, s.now())
		if err != nil || !changed {
			return err
		}
		return s.audit.Enqueue(ctx, tx, s.auditRecord(ctx, p.TenantID, "run.cancel", "runs/"+runID, map[string]any{"status": run.Status}))
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, apierr.NotFound("run", runID)
	case errors.Is(err, store.ErrConflict):
		return nil, apierr.New(apierr.CodeConflict, "run %s already ended %s; it cannot be cancelled", runID, run.Status)
	case err != nil:
		return nil, err
	}
	if changed {
		if store.Terminal(run.Status) {
			s.releaseSlot(run.TenantID)
		}
		s.publishedRun(run)
		s.metrics.runTransitions.WithLabelValues(run.Status).Inc()
	}
	out := runToAPI(run)
	return &out, nil
}

const maxWait = 5 * time.Minute

// maxCreateWait bounds a creation's wait below keyLock, so that a retry with the same
// Idempotency-Key never takes over the key of a first request that is still waiting.
const maxCreateWait = 30 * time.Second

// WaitRun implements waitRun.
func (s *Service) WaitRun(ctx context.Context, params orchestratorapi.WaitRunParams) (*orchestratorapi.Run, error) {
	timeout, err := parseWait("timeout", params.Timeout.Or("30s"), maxWait)
	if err != nil {
		return nil, err
	}
	// Watch before reading the run: every event committed after the read reaches the
	// subscription, so none is read back from storage, and when this process ends the
	// run the subscription hands over the run as ended, so it is not read again either.
	sub := s.hub.Watch(string(params.RunID))
	defer sub.Close()
	r, err := s.tenantRun(ctx, string(params.RunID))
	if err != nil {
		return nil, err
	}
	if r, err = s.await(ctx, sub, r, timeout); err != nil {
		return nil, err
	}
	out := runToAPI(r)
	return &out, nil
}

// await waits until r ends or timeout passes and returns the run then. sub watched r
// since before r was read (or written); await anchors it at r.LastSeq. The ended run is
// the one the commit that ended it left, when this process made that commit; otherwise,
// and at the timeout, it is read again.
func (s *Service) await(ctx context.Context, sub *stream.Sub, r *store.Run, timeout time.Duration) (*store.Run, error) {
	if store.Terminal(r.Status) {
		return r, nil
	}
	sub.Anchor(r.LastSeq)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	after := r.LastSeq
	for {
		evs, changed, covered := sub.Since(after)
		if !covered {
			evs = nil // only the terminal event matters: re-read the run below
		}
		for _, e := range evs {
			after = e.Seq
			if isTerminalEvent(e.Type) {
				if final := sub.Final(e.Seq); final != nil {
					return final, nil
				}
				return s.tenantRun(ctx, r.ID)
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return s.tenantRun(ctx, r.ID)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// parseWait parses the duration of a wait (field: the parameter's name): a number
// followed by ms, s or m, at most limit.
func parseWait(field, s string, limit time.Duration) (time.Duration, error) {
	unit := strings.TrimLeft(s, "0123456789")
	n, err := strconv.Atoi(strings.TrimSuffix(s, unit))
	if err != nil {
		return 0, apierr.InvalidField(field, "must be a number followed by ms, s or m")
	}
	var d time.Duration
	switch unit {
	case "ms":
		d = time.Duration(n) * time.Millisecond
	case "s":
		d = time.Duration(n) * time.Second
	case "m":
		d = time.Duration(n) * time.Minute
	default:
		return 0, apierr.InvalidField(field, "must be a number followed by ms, s or m")
	}
	if d > limit || d < 0 || n > int(limit/time.Millisecond) { // the last two: d overflowed
		return 0, apierr.InvalidField(field, fmt.Sprintf("must be at most %s", limit))
	}
	return d, nil
}

func isTerminalEvent(t string) bool {
	switch t {
	case store.EventCompleted, store.EventFailed, store.EventCancelled, store.EventTimedOut:
		return true
	}
	return false
}

func runToAPI(r *store.Run) orchestratorapi.Run {
	out := orchestratorapi.Run{
		RunID:        orchestratorapi.RunId(r.ID),
		TenantID:     orchestratorapi.TenantId(r.TenantID),
		AgentID:      orchestratorapi.AgentId(r.AgentID),
		AgentVersion: r.AgentVersion,
		Status:       orchestratorapi.RunStatus(r.Status),
		Input:        r.Input,
		Attempt:      r.Attempt,
		MaxAttempts:  r.MaxAttempts,
		Usage:        orchestratorapi.Usage{PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens},
		Metadata:     orchestratorapi.StringMap(r.MetadataMap()),
		CreatedAt:    r.CreatedAt,
		LastSeq:      r.LastSeq,
	}
	if r.Output != nil {
		out.Output = orchestratorapi.NewOptString(*r.Output)
	}
	if r.ErrorCode != nil {
		out.Error = orchestratorapi.NewOptRunError(orchestratorapi.RunError{Code: *r.ErrorCode, Message: deref(r.ErrorMessage)})
	}
	if r.StartedAt != nil {
		out.StartedAt = orchestratorapi.NewOptDateTime(*r.StartedAt)
	}
	if r.EndedAt != nil {
		out.EndedAt = orchestratorapi.NewOptDateTime(*r.EndedAt)
	}
	if r.Deadline != nil {
		out.Deadline = orchestratorapi.NewOptDateTime(*r.Deadline)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
