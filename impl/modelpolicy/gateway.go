package modelpolicy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/impl/modelpolicy/quota"
	"github.com/nexixai/agentos/impl/modelpolicy/usage"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/internal/tenancy"
)

// DefaultCompletionEstimate is the completion size reserved for a chat call that sets
// no max_tokens and gets no max_tokens obligation.
const DefaultCompletionEstimate = 1024

// Operations, as the policy input and the audit actions name them.
const (
	opChat       = "chat.completions"
	opEmbeddings = "embeddings"
	opModels     = "models.list"
	opToolCall   = "tool.call"
)

// ask is what a gateway call asks of the policy besides who asks and for which model:
// the members of its policy input that the operation fills.
type ask struct {
	tools     []string
	estimated int64
	maxTokens int64
	stream    bool
}

// call is one gateway call in progress. It is allocated once per call, so it keeps the
// parts of the policy input and not the input itself (input rebuilds it).
type call struct {
	s         *Service
	op        string
	model     string
	principal tenancy.Principal
	ask       ask
	// known and labels are the tenant's, as the policy input carries them.
	known    bool
	labels   map[string]string
	decision policyeval.Decision
	reserved *quota.Reservation
	start    time.Time
	detail   callDetail
	// metricModel is the model's label in metrics: a configured model's name, or
	// "unknown" (clients choose the name; labels must stay bounded).
	metricModel string
}

// begin resolves the caller, checks the model, decides the call and reserves its quota:
// reserve says how many tokens, given the decision (whose obligations may lower them).
// Every refusal is audited before it is returned.
func (s *Service) begin(ctx context.Context, op, model, wantType string, a ask, reserve func(policyeval.Decision) int64) (*call, error) {
	p, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errors.New("no principal on an authenticated operation")
	}
	c := &call{s: s, op: op, model: model, principal: p, ask: a, start: s.now(), metricModel: "unknown"}
	c.detail.runID = p.RunID // set for a worker acting for a run, with its run token
	info, err := s.info.get(ctx, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, apierr.CodeUnavailable, "tenant lookup unavailable")
	}
	c.known, c.labels = info.known, info.labels
	m, ok := s.router.Model(model)
	if !ok {
		err := apierr.New(apierr.CodeNotFound, "model %q not found", model)
		c.refuse(ctx, audit.OutcomeFailure, err)
		return nil, err
	}
	c.metricModel = model
	if m.Type != wantType {
		err := apierr.InvalidField("model", fmt.Sprintf("%q is a %s model; %s needs a %s model", model, m.Type, op, wantType))
		c.refuse(ctx, audit.OutcomeFailure, err)
		return nil, err
	}
	c.decision, err = s.decide(ctx, c.input(model))
	if err != nil {
		return nil, err
	}
	c.detail.decided = true
	if !c.decision.Allow {
		err := denied(c.decision.Reasons)
		c.refuse(ctx, audit.OutcomeDenied, err)
		return nil, err
	}
	c.reserved, err = s.limiter.Reserve(ctx, p.TenantID, s.limits(info), reserve(c.decision))
	var ex *quota.ExceededError
	if errors.As(err, &ex) {
		s.metrics.quota.WithLabelValues(ex.Kind).Inc()
		c.detail.quota, c.detail.hasQuota = ex.Kind, true
		qerr := &apierr.Error{Code: apierr.CodeRateLimited, Message: ex.Error(), RetryAfter: retryAfterSeconds(ex.RetryAfter)}
		c.refuse(ctx, audit.OutcomeDenied, qerr)
		return nil, qerr
	}
	if err != nil {
		return nil, apierr.Wrap(err, apierr.CodeUnavailable, "quota store unavailable")
	}
	return c, nil
}

func decisionWord(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// denied is the 403 problem of a deny; it carries every reason.
func denied(reasons []string) error {
	e := &apierr.Error{Code: apierr.CodePermissionDenied, Message: "denied by policy: " + strings.Join(reasons, "; ")}
	for _, r := range reasons {
		e.Fields = append(e.Fields, apierr.FieldError{Field: "policy", Reason: r})
	}
	return e
}

// limits are the tenant's quotas: its own where set, else the configured defaults.
func (s *Service) limits(info tenantInfo) quota.Limits {
	l := quota.Limits{InvokeQPS: s.cfg.QuotaInvokeQPS, TokensPerMinute: s.cfg.QuotaTokensPerMinute}
	if v := info.quotas.InvokeQPS; v != nil {
		l.InvokeQPS = int64(*v)
	}
	if v := info.quotas.TokensPerMinute; v != nil {
		l.TokensPerMinute = *v
	}
	return l
}

// decide evaluates the policy; a failure to evaluate is a 500 (fail closed).
func (s *Service) decide(ctx context.Context, in policyeval.Input) (policyeval.Decision, error) {
	start := time.Now()
	d, err := s.policy.Evaluate(ctx, in)
	s.metrics.decision(in.Operation, d.Allow && err == nil, time.Since(start))
	if err != nil {
		return d, apierr.Wrap(err, apierr.CodeInternal, "policy evaluation failed")
	}
	return d, nil
}

// input is the call's policy input for model.
func (c *call) input(model string) policyeval.Input {
	p := &c.principal
	return policyeval.Input{
		Tenant:          policyeval.TenantInput{ID: p.TenantID, Known: c.known, Labels: c.labels},
		Principal:       policyeval.PrincipalInput{ID: p.PrincipalID, Roles: p.Roles, Auth: p.AuthMode},
		Operation:       c.op,
		Model:           model,
		Tools:           c.ask.tools,
		EstimatedTokens: c.ask.estimated,
		MaxTokens:       c.ask.maxTokens,
		Stream:          c.ask.stream,
	}
}

// permit is the router's check before a fallback model: the same decision for it.
func (c *call) permit(ctx context.Context, model string) error {
	d, err := c.s.decide(ctx, c.input(model))
	if err != nil {
		return err
	}
	if !d.Allow {
		return denied(d.Reasons)
	}
	return nil
}

// record builds the call's audit record.
func (c *call) record(ctx context.Context, outcome string) audit.Record {
	return audit.Record{
		TenantID:  c.principal.TenantID,
		Time:      c.start,
		Principal: c.principal.PrincipalID,
		Action:    "model." + c.op,
		Resource:  "models/" + c.model,
		Outcome:   outcome,
		RequestID: httpserver.RequestID(ctx),
		Encoded:   c.encodeDetail(),
	}
}

// refuse audits a call refused before it reached a model.
func (c *call) refuse(ctx context.Context, outcome string, err error) {
	if ae, ok := apierr.As(err); ok {
		c.detail.setError(ae.Message)
		c.detail.setStatus(ae.Code.Status())
	}
	c.s.metrics.calls.WithLabelValues(c.op, c.metricModel, outcome).Inc()
	c.s.batch.Add(ctx, c.record(ctx, outcome))
}

// fail ends a call whose upstream attempts all failed: the reservation is returned and
// the failure audited; it returns the problem to answer.
func (c *call) fail(ctx context.Context, err error) error {
	if ee, ok := errors.AsType[*provider.EditError](err); ok {
		err = apierr.Wrap(ee.Err, apierr.CodeInvalidJSON, "invalid request body")
	}
	c.settle(0)
	out := upstreamProblem(err)
	c.detail.setError(err.Error())
	if ae, ok := apierr.As(out); ok {
		c.detail.setStatus(ae.Code.Status())
	}
	c.s.metrics.calls.WithLabelValues(c.op, c.metricModel, audit.OutcomeFailure).Inc()
	c.s.batch.Add(ctx, c.record(ctx, audit.OutcomeFailure))
	return out
}

func (c *call) settle(actual int64) {
	if adj, ok := c.s.limiter.Settle(c.reserved, actual); ok {
		c.s.recorder.Adjust(adj)
	}
}

// finish records a served call: quota settled to the usage, usage recorded, tokens
// counted, the call audited.
func (c *call) finish(ctx context.Context, served provider.Served, u provider.Usage, estimated bool, outcome string) {
	if u.TotalTokens <= 0 {
		u.TotalTokens = max(u.PromptTokens+u.CompletionTokens, 1) // never zero
	}
	c.settle(u.TotalTokens)
	c.s.recorder.Add(usage.Record{
		Tenant: c.principal.TenantID, Model: c.model, Principal: c.principal.PrincipalID, Time: c.start,
		Prompt: u.PromptTokens, Completion: u.CompletionTokens, Total: u.TotalTokens, Estimated: estimated,
	})
	c.s.router.Metrics().Tokens(served.Deployment, u.PromptTokens, u.CompletionTokens, estimated)
	c.detail.served = true
	c.detail.deployment = served.Deployment.ID
	c.detail.attempts = served.Attempts
	if served.Model.Name != c.model {
		c.detail.fallbackModel = served.Model.Name
	}
	c.detail.usage = u
	c.detail.usageEstimated = estimated
	c.s.metrics.calls.WithLabelValues(c.op, c.metricModel, outcome).Inc()
	c.s.batch.Add(ctx, c.record(ctx, outcome))
}

// upstreamProblem maps a routing failure to the problem the client gets.
func upstreamProblem(err error) error {
	if _, ok := apierr.As(err); ok {
		return err
	}
	e, ok := provider.AsError(err)
	if !ok {
		return apierr.Wrap(err, apierr.CodeUpstreamError, "model call failed")
	}
	switch e.Kind {
	case provider.KindCanceled:
		return apierr.Wrap(err, apierr.CodeRequestTimeout, "request cancelled")
	case provider.KindTimeout:
		return apierr.Wrap(err, apierr.CodeUpstreamTimeout, "the model did not answer in time: %s", e.Message)
	case provider.KindBreakerOpen:
		return &apierr.Error{Code: apierr.CodeUnavailable, Message: e.Message, RetryAfter: retryAfterSeconds(e.RetryAfter), Err: err}
	case provider.KindStatus:
		switch e.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			return apierr.Wrap(err, apierr.CodeInvalidArgument, "the model rejected the request: %s", e.Message)
		case http.StatusNotFound:
			if e.Deployment == "" { // the router's own: no such model
				return apierr.Wrap(err, apierr.CodeNotFound, "%s", e.Message)
			}
		}
		return apierr.Wrap(err, apierr.CodeUpstreamError, "the model failed: upstream status %d: %s", e.Status, e.Message)
	}
	return apierr.Wrap(err, apierr.CodeUpstreamError, "the model failed: %s", e.Message)
}

// setInt is the raw JSON of n.
func setInt(key string, n int64) provider.Field {
	return provider.Field{Key: key, Value: strconv.AppendInt(nil, n, 10)}
}

// promptBytes sums the bytes of the messages' contents and extra members (tool calls)
// and of the tool definitions: what an upstream tokenizes as the prompt.
func promptBytes(req *modelpolicyapi.ChatCompletionRequest, body []byte) int {
	n := len(provider.GetField(body, "tools"))
	for _, m := range req.Messages {
		n += len(m.Content) + len(m.Role)
		for _, v := range m.AdditionalProps {
			n += len(v)
		}
	}
	return n
}

// CreateChatCompletion implements createChatCompletion.
func (s *Service) CreateChatCompletion(ctx context.Context, req *modelpolicyapi.ChatCompletionRequest, w http.ResponseWriter) error {
	body := rawBody(ctx)
	stream := req.Stream.Or(false)
	var tools []string
	for _, t := range req.Tools.Or(nil) {
		if f, ok := t.Function.Get(); ok {
			tools = append(tools, f.Name)
		} else if f, ok := t.Custom.Get(); ok {
			tools = append(tools, f.Name)
		}
	}
	requested := int64(0)
	if v, ok := req.MaxCompletionTokens.Get(); ok {
		requested = v
	} else if v, ok := req.MaxTokens.Get(); ok {
		requested = v
	}
	promptEst := provider.EstimateTokens(promptBytes(req, body)) + 3*int64(len(req.Messages))

	a := ask{tools: tools, estimated: promptEst + max(requested, 0), maxTokens: requested, stream: stream}
	effective := requested
	c, err := s.begin(ctx, opChat, req.Model, provider.TypeChat, a, func(d policyeval.Decision) int64 {
		if capTok, ok := d.MaxTokens(); ok && (effective <= 0 || effective > capTok) {
			effective = capTok
		}
		if effective > 0 {
			return promptEst + effective
		}
		return promptEst + DefaultCompletionEstimate
	})
	if err != nil {
		return err
	}
	c.detail.stream = stream
	c.detail.maxTokens = effective

	var edits []provider.Field
	if effective != requested && effective > 0 {
		if _, ok := req.MaxCompletionTokens.Get(); ok {
			edits = append(edits, setInt("max_completion_tokens", effective))
			if v, ok := req.MaxTokens.Get(); ok && v > effective {
				edits = append(edits, setInt("max_tokens", effective))
			}
		} else {
			edits = append(edits, setInt("max_tokens", effective))
		}
	}
	clientUsage := false
	if so, ok := req.StreamOptions.Get(); ok {
		clientUsage = so.IncludeUsage.Or(false)
	}
	if stream && !clientUsage {
		// Ask the upstream for usage so streams are metered; the usage chunk is not
		// relayed to a client that did not ask for it.
		opts := []byte(`{"include_usage":true}`)
		if raw := provider.GetField(body, "stream_options"); len(raw) > 0 && raw[0] == '{' {
			if merged, err := provider.SetFields(raw, provider.Field{Key: "include_usage", Value: []byte("true")}); err == nil {
				opts = merged
			}
		}
		edits = append(edits, provider.Field{Key: "stream_options", Value: opts})
	}
	// The edits are applied by the router, in the pass that sets each deployment's model.
	pc := provider.Call{Op: provider.OpChat, Model: req.Model, Body: body, Edits: edits, Permit: c.permit}
	if stream {
		return s.relayStream(ctx, c, pc, w, promptEst, clientUsage)
	}
	resp, served, err := s.router.Do(ctx, pc)
	if err != nil {
		return c.fail(ctx, err)
	}
	u, estimated := resp.Usage, false
	if !u.Present {
		u = provider.Usage{PromptTokens: promptEst, CompletionTokens: provider.EstimateTokens(provider.ResponseContentBytes(resp.Body))}
		estimated = true
	}
	writeJSON(w, resp.Body)
	resp.Release() // written: the answer's buffer goes back to the pool
	c.finish(ctx, served, u, estimated, audit.OutcomeSuccess)
	return nil
}
