package orchestrator

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/audit"
)

const sweepBatch = 200

// sweep periodically requeues or ends runs whose lease lapsed, ends runs whose deadline
// passed, and purges expired idempotency keys. Every orchestrator process sweeps; rows
// are claimed with SKIP LOCKED on PostgreSQL, so they never handle the same run twice.
func (s *Service) sweep(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	lastPurge, lastReconcile := time.Time{}, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.sweepOnce(ctx, "lease", store.ExpireLeases)
		s.sweepOnce(ctx, "deadline", store.ExpireDeadlines)
		if time.Since(lastReconcile) > 30*time.Second {
			lastReconcile = time.Now()
			if n, err := store.ReconcileSlots(ctx, s.db.DB, 10*time.Second, s.now()); err != nil && ctx.Err() == nil {
				s.logger.Warn("reconcile run quotas", "error", err)
			} else if n > 0 {
				s.logger.Warn("repaired run quota counts", "tenants", n)
			}
		}
		if time.Since(lastPurge) > time.Minute {
			lastPurge = time.Now()
			if _, err := store.PurgeKeys(ctx, s.db.DB, 10000, s.now()); err != nil && ctx.Err() == nil {
				s.logger.Warn("purge idempotency keys", "error", err)
			}
			if _, err := store.PurgeMemory(ctx, s.db.DB, 10000, s.now()); err != nil && ctx.Err() == nil {
				s.logger.Warn("purge expired memory", "error", err)
			}
		}
	}
}

type expireFunc func(ctx context.Context, tx bun.IDB, limit int, now time.Time) ([]store.Expiry, error)

func (s *Service) sweepOnce(ctx context.Context, kind string, expire expireFunc) {
	for ctx.Err() == nil {
		var done []store.Expiry
		err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			if done, err = expire(ctx, tx, sweepBatch, s.now()); err != nil {
				return err
			}
			for _, e := range done {
				err := s.audit.Enqueue(ctx, tx, audit.Record{
					TenantID: e.Run.TenantID, Time: s.now(), Principal: "system", Action: "run." + kind + "_expired",
					Resource: "runs/" + e.Run.ID, Outcome: audit.OutcomeSuccess, Detail: map[string]any{"status": e.Status, "attempt": e.Run.Attempt},
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("sweep runs", "kind", kind, "error", err)
			}
			return
		}
		for _, e := range done {
			if store.Terminal(e.Status) {
				s.releaseSlot(e.Run.TenantID)
			}
			s.publishedRun(e.Run)
			s.metrics.runTransitions.WithLabelValues(e.Status).Inc()
			if kind == "lease" {
				s.metrics.leaseExpiries.Inc()
			}
			if e.Status == store.StatusQueued {
				s.queued()
			}
		}
		if len(done) < sweepBatch {
			return
		}
	}
}
