package provider

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the per-provider and per-deployment series of the model gateway.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	ttft     *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	breaker  *prometheus.GaugeVec
	inflight *prometheus.GaugeVec
}

// NewMetrics registers the series on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"model", "provider", "deployment"}
	buckets := []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_model_upstream_attempts_total",
			Help: "Upstream attempts by model, provider, deployment and outcome (ok or an error kind).",
		}, append(labels, "outcome")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentos_model_upstream_duration_seconds",
			Help:    "Upstream attempt latency (a whole answer, or a whole stream), by deployment.",
			Buckets: buckets,
		}, labels),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentos_model_time_to_first_token_seconds",
			Help:    "Time from sending a streaming request to its first event, by deployment.",
			Buckets: buckets,
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_model_upstream_errors_total",
			Help: "Upstream failures by provider, deployment and kind (timeout, connection, status_429, status_5xx, status_4xx, protocol, stream_broken, breaker_open).",
		}, []string{"provider", "deployment", "kind"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentos_model_tokens_total",
			Help: "Tokens by model, provider, deployment, type (prompt or completion) and whether they were estimated.",
		}, append(labels, "type", "estimated")),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentos_model_breaker_state",
			Help: "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider", "deployment"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentos_model_deployment_inflight",
			Help: "Calls in flight per deployment.",
		}, []string{"provider", "deployment"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.latency, m.ttft, m.errors, m.tokens, m.breaker, m.inflight)
	}
	return m
}

func (m *Metrics) attempt(d *Deployment, outcome string, elapsed time.Duration) {
	m.attempts.WithLabelValues(d.Model, d.Provider.Name(), d.ID, outcome).Inc()
	m.latency.WithLabelValues(d.Model, d.Provider.Name(), d.ID).Observe(elapsed.Seconds())
}

func (m *Metrics) failure(d *Deployment, kind string) {
	m.errors.WithLabelValues(d.Provider.Name(), d.ID, kind).Inc()
}

func (m *Metrics) firstToken(d *Deployment, elapsed time.Duration) {
	m.ttft.WithLabelValues(d.Model, d.Provider.Name(), d.ID).Observe(elapsed.Seconds())
}

// Tokens counts the tokens of a finished call on d.
func (m *Metrics) Tokens(d *Deployment, prompt, completion int64, estimated bool) {
	est := "false"
	if estimated {
		est = "true"
	}
	if prompt > 0 {
		m.tokens.WithLabelValues(d.Model, d.Provider.Name(), d.ID, "prompt", est).Add(float64(prompt))
	}
	if completion > 0 {
		m.tokens.WithLabelValues(d.Model, d.Provider.Name(), d.ID, "completion", est).Add(float64(completion))
	}
}

// BreakerGauge returns the breaker-state gauge of a deployment.
func (m *Metrics) BreakerGauge(provider, deployment string) prometheus.Gauge {
	return m.breaker.WithLabelValues(provider, deployment)
}
