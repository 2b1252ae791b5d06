package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-faster/jx"
)

// Attempt defaults (see Defaults).
const (
	DefaultTimeout          = 60 * time.Second
	DefaultFirstByteTimeout = 15 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultRetries          = 2
	DefaultBackoff          = 100 * time.Millisecond
	DefaultMaxBackoff       = 2 * time.Second
	DefaultBreakerFailures  = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

// Model is a model name clients use and how it is served.
type Model struct {
	Name        string
	Type        string
	Routing     string
	Deployments []*Deployment
	Fallbacks   []string
	Retries     int
	Backoff     time.Duration
	MaxBackoff  time.Duration
	OwnedBy     string
}

// Deployment is a model on one provider.
type Deployment struct {
	// ID names the deployment in metrics and audit: "<provider>/<upstream model>".
	ID string
	// Model is the client-facing model name it serves.
	Model            string
	Provider         Provider
	UpstreamModel    string
	Weight           int
	Timeout          time.Duration
	FirstByteTimeout time.Duration
	IdleTimeout      time.Duration
	Breaker          *Breaker

	inflight atomic.Int64
	// modelJSON is UpstreamModel as a JSON string, the value "model" is rewritten to.
	modelJSON []byte
	// timeoutMessage is the message of an attempt that ran past Timeout.
	timeoutMessage string
}

// Router serves calls on the configured models.
type Router struct {
	models  map[string]*Model
	order   []*Model
	metrics *Metrics
	logger  *slog.Logger

	randMu sync.Mutex
	rand   *rand.Rand
	// sleep waits between attempts (tests replace it).
	sleep func(ctx context.Context, d time.Duration) error
}

// RouterOptions configure NewRouter.
type RouterOptions struct {
	Metrics *Metrics
	Logger  *slog.Logger
	// LookupEnv resolves api_key_env.
	LookupEnv func(string) (string, bool)
	// Transport overrides the HTTP transport of openai providers (tests).
	Transport http.RoundTripper
}

// NewRouter builds the providers and models of a validated File.
func NewRouter(f File, opts RouterOptions) (*Router, error) {
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport()
	}
	providers := map[string]Provider{}
	for _, p := range f.Providers {
		switch p.Type {
		case "openai":
			key := ""
			if p.APIKeyEnv != "" {
				key, _ = opts.LookupEnv(p.APIKeyEnv)
			}
			providers[p.Name] = NewOpenAI(OpenAIConfig{Name: p.Name, BaseURL: p.BaseURL, APIKey: key, Headers: p.Headers, Transport: transport})
		case "builtin":
			providers[p.Name] = NewBuiltin(p.Name, p.EmbeddingDimensions)
		default:
			return nil, fmt.Errorf("provider %s: unknown type %q", p.Name, p.Type)
		}
	}
	def := f.Defaults
	r := &Router{
		models:  map[string]*Model{},
		metrics: opts.Metrics,
		logger:  opts.Logger,
		rand:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		sleep:   sleepCtx,
	}
	failures := DefaultBreakerFailures
	if def.BreakerFailures != nil {
		failures = *def.BreakerFailures
	}
	cooldown := durOr(def.BreakerCooldown, DefaultBreakerCooldown)
	for _, mc := range f.Models {
		m := &Model{
			Name:       mc.Name,
			Type:       mc.Type,
			Routing:    mc.Routing,
			Fallbacks:  mc.Fallbacks,
			Retries:    DefaultRetries,
			Backoff:    durOr(def.Backoff, DefaultBackoff),
			MaxBackoff: durOr(def.MaxBackoff, DefaultMaxBackoff),
			OwnedBy:    mc.OwnedBy,
		}
		if m.Routing == "" {
			m.Routing = "weighted"
		}
		if def.Retries != nil {
			m.Retries = *def.Retries
		}
		if mc.Retries != nil {
			m.Retries = *mc.Retries
		}
		for _, dc := range mc.Deployments {
			p, ok := providers[dc.Provider]
			if !ok {
				return nil, fmt.Errorf("model %s: unknown provider %q", mc.Name, dc.Provider)
			}
			upstream := dc.Model
			if upstream == "" {
				upstream = mc.Name
			}
			d := &Deployment{
				ID:               p.Name() + "/" + upstream,
				Model:            mc.Name,
				Provider:         p,
				UpstreamModel:    upstream,
				Weight:           max(dc.Weight, 0),
				Timeout:          durOr(dc.Timeout, durOr(def.Timeout, DefaultTimeout)),
				FirstByteTimeout: durOr(dc.FirstByteTimeout, durOr(def.FirstByteTimeout, DefaultFirstByteTimeout)),
				IdleTimeout:      durOr(dc.IdleTimeout, durOr(def.IdleTimeout, DefaultIdleTimeout)),
			}
			if dc.Weight == 0 {
				d.Weight = 1
			}
			var w jx.Writer
			w.Str(upstream)
			d.modelJSON = w.Buf
			d.timeoutMessage = fmt.Sprintf("no answer within %s", d.Timeout)
			gauge := opts.Metrics.breaker.WithLabelValues(p.Name(), d.ID)
			gauge.Set(0)
			d.Breaker = NewBreaker(failures, cooldown, func(s BreakerState) {
				gauge.Set(float64(s))
				opts.Logger.Warn("circuit breaker state changed", "deployment", d.ID, "state", s.String())
			})
			m.Deployments = append(m.Deployments, d)
		}
		if m.OwnedBy == "" && len(m.Deployments) > 0 {
			m.OwnedBy = m.Deployments[0].Provider.Name()
		}
		r.models[m.Name] = m
		r.order = append(r.order, m)
	}
	return r, nil
}

func durOr(d Duration, def time.Duration) time.Duration {
	if d > 0 {
		return time.Duration(d)
	}
	return def
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Model returns a configured model.
func (r *Router) Model(name string) (*Model, bool) {
	m, ok := r.models[name]
	return m, ok
}

// Models returns every configured model in configuration order.
func (r *Router) Models() []*Model { return r.order }

// Metrics returns the router's metrics.
func (r *Router) Metrics() *Metrics { return r.metrics }

// Call is one client call to route.
type Call struct {
	Op Operation
	// Model is the model the client asked for.
	Model string
	// Body is the request body as the client sent it.
	Body []byte
	// Edits are top-level members set in Body before it goes upstream, in the same pass
	// that rewrites "model" to each deployment's upstream name (SetFields); their keys
	// differ from each other and from "model". A Body they cannot be applied to fails
	// the call with an *EditError before any attempt.
	Edits []Field
	// Permit, when set, is asked before a fallback model is tried; an error skips it.
	Permit func(ctx context.Context, model string) error
}

// Served tells which deployment answered.
type Served struct {
	Model      *Model
	Deployment *Deployment
	// Attempts is the number of upstream attempts made, including the successful one.
	Attempts int
}

// EditError is a call whose Edits could not be applied: its Body is not a JSON object.
type EditError struct{ Err error }

func (e *EditError) Error() string { return e.Err.Error() }
func (e *EditError) Unwrap() error { return e.Err }

// plan walks the attempts of a call: the requested model, then its fallbacks.
type plan struct {
	r        *Router
	call     Call
	attempts int
	lastErr  error
	// edited is the body with the call's Edits applied (model unchanged), once built.
	edited []byte
}

// next runs attempts until try succeeds or the plan is exhausted. try returns nil on
// success.
func (p *plan) run(ctx context.Context, try func(ctx context.Context, m *Model, d *Deployment, body []byte) error) (Served, error) {
	primary, ok := p.r.models[p.call.Model]
	if !ok {
		return Served{}, &Error{Kind: KindStatus, Status: http.StatusNotFound, Message: fmt.Sprintf("model %q is not configured", p.call.Model)}
	}
	models := []*Model{primary}
	for _, name := range primary.Fallbacks {
		if m, ok := p.r.models[name]; ok {
			models = append(models, m)
		}
	}
	for i, m := range models {
		if i > 0 && p.call.Permit != nil {
			if err := p.call.Permit(ctx, m.Name); err != nil {
				p.r.logger.Debug("fallback model not permitted", "model", m.Name, "error", err)
				continue
			}
		}
		tried := map[*Deployment]bool{}
		for n := 0; n <= m.Retries; n++ {
			d := p.r.pick(m, tried)
			if d == nil {
				if p.lastErr == nil || n == 0 {
					p.lastErr = p.r.breakerError(m)
				}
				break
			}
			if tried[d] {
				// Retrying a deployment already tried: back off first.
				if err := p.r.sleep(ctx, p.backoff(m, n)); err != nil {
					return Served{}, &Error{Kind: KindCanceled, Err: err}
				}
			}
			if !d.Breaker.Allow() {
				tried[d] = true
				continue
			}
			body, err := p.body(d)
			if err != nil {
				d.Breaker.Release()
				if len(p.call.Edits) > 0 {
					return Served{}, &EditError{Err: err}
				}
				return Served{}, &Error{Kind: KindStatus, Status: http.StatusBadRequest, Message: err.Error()}
			}
			p.attempts++
			err = try(ctx, m, d, body)
			if err == nil {
				return Served{Model: m, Deployment: d, Attempts: p.attempts}, nil
			}
			p.lastErr = err
			e, isUp := AsError(err)
			if !isUp || !e.Retryable() || ctx.Err() != nil {
				return Served{}, err
			}
			tried[d] = true
		}
	}
	if p.lastErr == nil {
		p.lastErr = p.r.breakerError(primary)
	}
	return Served{}, p.lastErr
}

// body returns the call's body with its edits and the deployment's upstream model name,
// set in one pass: the same bytes as setting the edits, then the model.
func (p *plan) body(d *Deployment) ([]byte, error) {
	if d.UpstreamModel == p.call.Model {
		if len(p.call.Edits) == 0 {
			return p.call.Body, nil
		}
		if p.edited == nil {
			edited, err := SetFields(p.call.Body, p.call.Edits...)
			if err != nil {
				return nil, err
			}
			p.edited = edited
		}
		return p.edited, nil
	}
	model := d.modelJSON
	if model == nil { // a Deployment not built by NewRouter
		var w jx.Writer
		w.Str(d.UpstreamModel)
		model = w.Buf
	}
	var buf [4]Field
	fields := append(append(buf[:0], p.call.Edits...), Field{Key: "model", Value: model})
	return SetFields(p.call.Body, fields...)
}

func (p *plan) backoff(m *Model, n int) time.Duration {
	if e, ok := AsError(p.lastErr); ok && e.RetryAfter > 0 && e.RetryAfter <= m.MaxBackoff {
		return e.RetryAfter
	}
	d := m.Backoff << max(n-1, 0)
	if d > m.MaxBackoff || d <= 0 {
		d = m.MaxBackoff
	}
	// Equal jitter: half fixed, half random.
	p.r.randMu.Lock()
	j := time.Duration(p.r.rand.Int64N(int64(d/2) + 1))
	p.r.randMu.Unlock()
	return d/2 + j
}

func (r *Router) breakerError(m *Model) *Error {
	retry := time.Duration(0)
	for _, d := range m.Deployments {
		if in := d.Breaker.RetryIn(); retry == 0 || (in > 0 && in < retry) {
			retry = in
		}
	}
	for _, d := range m.Deployments {
		r.metrics.failure(d, string(KindBreakerOpen))
	}
	return &Error{Kind: KindBreakerOpen, Message: fmt.Sprintf("every deployment of model %q is failing (circuit open)", m.Name), RetryAfter: retry}
}

// pick chooses a deployment of m whose breaker is available, preferring ones not tried
// yet in this call; nil when none is available.
func (r *Router) pick(m *Model, tried map[*Deployment]bool) *Deployment {
	var fresh, again []*Deployment
	for _, d := range m.Deployments {
		if !d.Breaker.Available() {
			continue
		}
		if tried[d] {
			again = append(again, d)
		} else {
			fresh = append(fresh, d)
		}
	}
	cands := fresh
	if len(cands) == 0 {
		cands = again
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	if m.Routing == "least_busy" {
		best := cands[0]
		for _, d := range cands[1:] {
			// Compare inflight/weight without division.
			if d.inflight.Load()*int64(best.Weight) < best.inflight.Load()*int64(d.Weight) {
				best = d
			}
		}
		return best
	}
	total := 0
	for _, d := range cands {
		total += d.Weight
	}
	r.randMu.Lock()
	x := r.rand.IntN(total)
	r.randMu.Unlock()
	for _, d := range cands {
		if x < d.Weight {
			return d
		}
		x -= d.Weight
	}
	return cands[len(cands)-1]
}

// record accounts for a finished attempt: metrics and the breaker.
func (r *Router) record(d *Deployment, err error, elapsed time.Duration) {
	if err == nil {
		d.Breaker.Success()
		r.metrics.attempt(d, "ok", elapsed)
		return
	}
	e, ok := AsError(err)
	if !ok {
		e = &Error{Kind: KindConnection, Err: err}
	}
	e.Deployment = d.ID
	switch {
	case e.Kind == KindCanceled:
		d.Breaker.Release()
		r.metrics.attempt(d, "canceled", elapsed)
		return
	case e.Retryable():
		d.Breaker.Failure()
	default:
		d.Breaker.Success() // the upstream is healthy; the request was not
	}
	kind := e.metricKind()
	r.metrics.attempt(d, kind, elapsed)
	r.metrics.failure(d, kind)
	r.logger.Warn("upstream attempt failed", "deployment", d.ID, "kind", kind, "status", e.Status, "error", e.Error())
}

// Do routes a non-streaming call.
func (r *Router) Do(ctx context.Context, call Call) (*Response, Served, error) {
	var resp *Response
	p := &plan{r: r, call: call}
	served, err := p.run(ctx, func(ctx context.Context, m *Model, d *Deployment, body []byte) error {
		d.inflight.Add(1)
		r.metrics.inflight.WithLabelValues(d.Provider.Name(), d.ID).Inc()
		defer func() {
			d.inflight.Add(-1)
			r.metrics.inflight.WithLabelValues(d.Provider.Name(), d.ID).Dec()
		}()
		msg := d.timeoutMessage
		if msg == "" { // a Deployment not built by NewRouter
			msg = fmt.Sprintf("no answer within %s", d.Timeout)
		}
		actx, cancel := context.WithTimeoutCause(ctx, d.Timeout, &Error{Kind: KindTimeout, Message: msg})
		defer cancel()
		start := time.Now()
		out, err := d.Provider.Do(actx, Request{Op: call.Op, Body: body})
		if err != nil {
			err = classify(ctx, actx, err)
		}
		r.record(d, err, time.Since(start))
		if err != nil {
			return err
		}
		resp = out
		return nil
	})
	return resp, served, err
}

// classify makes sure err is an *Error with the right kind: a parent cancellation is
// KindCanceled, an attempt deadline KindTimeout.
func classify(parent, attempt context.Context, err error) error {
	if parent.Err() != nil {
		return &Error{Kind: KindCanceled, Err: err}
	}
	e, ok := AsError(err)
	if ok && e.Kind != KindCanceled {
		return e
	}
	if cause := context.Cause(attempt); cause != nil {
		var ce *Error
		if errors.As(cause, &ce) {
			return &Error{Kind: ce.Kind, Message: ce.Message, Err: err}
		}
	}
	if ok {
		return e
	}
	return &Error{Kind: KindConnection, Err: err}
}

// Relay is a stream that has produced its first event: the caller writes First, then
// Next until io.EOF or an error, then Close.
type Relay struct {
	First  []byte
	Served Served
	// TimeToFirstEvent is the time from sending the request to its first event.
	TimeToFirstEvent time.Duration

	r      *Router
	s      Stream
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	start  time.Time
	closed bool
}

// Stream routes a streaming call: attempts are made (retried and failed over) until one
// produces its first event within the first-byte timeout.
func (r *Router) Stream(ctx context.Context, call Call) (*Relay, error) {
	var relay *Relay
	p := &plan{r: r, call: call}
	served, err := p.run(ctx, func(pctx context.Context, m *Model, d *Deployment, body []byte) error {
		actx, cancel := context.WithCancelCause(pctx)
		d.inflight.Add(1)
		r.metrics.inflight.WithLabelValues(d.Provider.Name(), d.ID).Inc()
		fail := func(err error, start time.Time) error {
			cancel(nil)
			d.inflight.Add(-1)
			r.metrics.inflight.WithLabelValues(d.Provider.Name(), d.ID).Dec()
			err = classify(pctx, actx, err)
			r.record(d, err, time.Since(start))
			return err
		}
		timer := time.AfterFunc(d.FirstByteTimeout, func() {
			cancel(&Error{Kind: KindTimeout, Message: fmt.Sprintf("no first event within %s", d.FirstByteTimeout)})
		})
		start := time.Now()
		s, err := d.Provider.Stream(actx, Request{Op: call.Op, Body: body})
		if err != nil {
			timer.Stop()
			return fail(err, start)
		}
		first, err := s.Next()
		timer.Stop()
		if err != nil {
			_ = s.Close()
			if errors.Is(err, io.EOF) {
				err = &Error{Kind: KindProtocol, Message: "upstream stream ended before its first event"}
			}
			return fail(err, start)
		}
		ttfe := time.Since(start)
		r.metrics.firstToken(d, ttfe)
		d.Breaker.Success()
		relay = &Relay{First: first, TimeToFirstEvent: ttfe, r: r, s: s, parent: pctx, ctx: actx, cancel: cancel, start: start}
		return nil
	})
	if err != nil {
		return nil, err
	}
	relay.Served = served
	return relay, nil
}

// Next returns the next event after First: io.EOF at the end, an *Error when the stream
// broke or went idle past the idle timeout.
func (rl *Relay) Next() ([]byte, error) {
	d := rl.Served.Deployment
	if rl.timer == nil {
		rl.timer = time.AfterFunc(d.IdleTimeout, func() {
			rl.cancel(&Error{Kind: KindTimeout, Message: fmt.Sprintf("no event within %s", d.IdleTimeout)})
		})
	} else {
		rl.timer.Reset(d.IdleTimeout)
	}
	data, err := rl.s.Next()
	rl.timer.Stop()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, classify(rl.parent, rl.ctx, err)
	}
	return data, err
}

// Ready reports whether Next would return at once because the next event has arrived
// already (streams that cannot tell say false).
func (rl *Relay) Ready() bool {
	r, ok := rl.s.(interface{ Ready() bool })
	return ok && r.Ready()
}

// Close ends the stream and records its outcome: nil for a complete stream, else the
// error that ended it (a broken stream counts against the deployment's breaker).
func (rl *Relay) Close(err error) {
	if rl.closed {
		return
	}
	rl.closed = true
	if rl.timer != nil {
		rl.timer.Stop()
	}
	_ = rl.s.Close()
	rl.cancel(nil)
	d := rl.Served.Deployment
	d.inflight.Add(-1)
	rl.r.metrics.inflight.WithLabelValues(d.Provider.Name(), d.ID).Dec()
	elapsed := time.Since(rl.start)
	if err == nil {
		rl.r.metrics.attempt(d, "ok", elapsed)
		return
	}
	e, ok := AsError(err)
	if ok && e.Kind == KindCanceled {
		rl.r.metrics.attempt(d, "canceled", elapsed)
		return
	}
	d.Breaker.Failure()
	rl.r.metrics.attempt(d, "stream_broken", elapsed)
	rl.r.metrics.failure(d, "stream_broken")
	rl.r.logger.Warn("upstream stream broke", "deployment", d.ID, "error", err)
}

// ModelNames returns the configured model names in configuration order.
func (r *Router) ModelNames() []string {
	out := make([]string, 0, len(r.order))
	for _, m := range r.order {
		out = append(out, m.Name)
	}
	return slices.Clip(out)
}
