package orchestrator

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nexixai/agentos/impl/orchestrator/store"
)

// metrics are the orchestrator's domain series, in the service's registry.
type metrics struct {
	runTransitions     *prometheus.CounterVec
	leaseGrants        prometheus.Counter
	leaseExpiries      prometheus.Counter
	sseSubscribers     prometheus.Gauge
	idempotentReplays  prometheus.Counter
	quotaRejections    *prometheus.CounterVec
	idempotencyRejects *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, s *Service) *metrics {
	m := &metrics{
		runTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_run_transitions_total", Help: "Runs entering each status.",
		}, []string{"status"}),
		leaseGrants: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentos_lease_grants_total", Help: "Run leases granted to workers.",
		}),
		leaseExpiries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentos_lease_expiries_total", Help: "Run leases that lapsed without a heartbeat.",
		}),
		sseSubscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentos_sse_subscribers", Help: "Open run event streams.",
		}),
		idempotentReplays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentos_idempotent_replays_total", Help: "Requests answered with a stored Idempotency-Key response.",
		}),
		quotaRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_quota_rejections_total", Help: "Run creations refused by a tenant quota.",
		}, []string{"quota"}),
		idempotencyRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_idempotency_rejections_total", Help: "Requests refused because their Idempotency-Key was in flight or reused with another body.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.runTransitions, m.leaseGrants, m.leaseExpiries, m.sseSubscribers, m.idempotentReplays, m.quotaRejections, m.idempotencyRejects,
		&runsCollector{s: s, desc: prometheus.NewDesc("agentos_runs", "Runs by status (queued is the queue depth).", []string{"status"}, nil)})
	return m
}

// runsCollector reports runs by status from the database, cached for a few seconds so
// frequent scrapes do not turn into frequent full counts.
type runsCollector struct {
	s    *Service
	desc *prometheus.Desc

	mu     sync.Mutex
	at     time.Time
	counts map[string]int64
}

func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > 5*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		counts, err := store.CountByStatus(ctx, c.s.db.DB)
		cancel()
		if err == nil {
			c.counts, c.at = counts, time.Now()
		}
	}
	for _, st := range []string{store.StatusQueued, store.StatusRunning, store.StatusCancelling, store.StatusCompleted, store.StatusFailed, store.StatusCancelled, store.StatusTimedOut} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.counts[st]), st)
	}
}
