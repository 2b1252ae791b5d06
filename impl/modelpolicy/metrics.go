package modelpolicy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gatewayMetrics are the policy and quota series (the provider series live in
// provider.Metrics).
type gatewayMetrics struct {
	decisions *prometheus.CounterVec
	evalTime  prometheus.Histogram
	reloads   *prometheus.CounterVec
	quota     *prometheus.CounterVec
	calls     *prometheus.CounterVec
}

func newGatewayMetrics(reg prometheus.Registerer) *gatewayMetrics {
	m := &gatewayMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_policy_decisions_total",
			Help: "Policy decisions by operation and result (allow or deny).",
		}, []string{"operation", "result"}),
		evalTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentos_policy_evaluation_duration_seconds",
			Help:    "Time to evaluate one policy decision.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 75e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3},
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_policy_reloads_total",
			Help: "Policy reloads by result (ok, or rejected when the new bundle did not compile).",
		}, []string{"result"}),
		quota: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_model_quota_rejections_total",
			Help: "Calls refused by a quota, by kind (invoke_qps, tokens_per_minute).",
		}, []string{"kind"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_model_calls_total",
			Help: "Gateway calls by operation, model and outcome (success, denied, failure).",
		}, []string{"operation", "model", "outcome"}),
	}
	reg.MustRegister(m.decisions, m.evalTime, m.reloads, m.quota, m.calls)
	return m
}

func (m *gatewayMetrics) decision(op string, allow bool, d time.Duration) {
	result := "deny"
	if allow {
		result = "allow"
	}
	m.decisions.WithLabelValues(op, result).Inc()
	m.evalTime.Observe(d.Seconds())
}

func (m *gatewayMetrics) reload(err error) {
	if err != nil {
		m.reloads.WithLabelValues("rejected").Inc()
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
}
