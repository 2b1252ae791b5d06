package modelpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-faster/jx"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/impl/modelpolicy/apikey"
	"github.com/nexixai/agentos/impl/modelpolicy/usage"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/internal/tenancy"
)

// EvaluatePolicy implements evaluatePolicy: a dry run of the decision a call of the
// caller would get; audited as policy.evaluate.
func (s *Service) EvaluatePolicy(ctx context.Context, req *modelpolicyapi.PolicyEvaluation) (*modelpolicyapi.PolicyDecision, error) {
	p, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errors.New("no principal on an authenticated operation")
	}
	info, err := s.info.get(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	in := policyeval.Input{
		Tenant:          policyeval.TenantInput{ID: p.TenantID, Known: info.known, Labels: info.labels},
		Principal:       policyeval.PrincipalInput{ID: p.PrincipalID, Roles: p.Roles, Auth: p.AuthMode},
		Operation:       string(req.Operation),
		Model:           req.Model.Or(""),
		Tools:           req.Tools,
		EstimatedTokens: req.EstimatedTokens.Or(0),
		MaxTokens:       req.MaxTokens.Or(0),
		Stream:          req.Stream.Or(false),
	}
	d, err := s.decide(ctx, in)
	if err != nil {
		return nil, err
	}
	out, err := policyDecision(in, d)
	if err != nil {
		return nil, err
	}
	outcome := audit.OutcomeSuccess
	if !d.Allow {
		outcome = audit.OutcomeDenied
	}
	detail := map[string]any{"dry_run": true, "operation": in.Operation, "model": in.Model, "decision": decisionWord(d.Allow), "policy_revision": d.Revision}
	if len(d.Reasons) > 0 {
		detail["reasons"] = d.Reasons
	}
	s.batch.Add(ctx, audit.Record{
		TenantID: p.TenantID, Time: s.now(), Principal: p.PrincipalID, Action: "policy.evaluate",
		Resource: "policy/" + d.Revision, Outcome: outcome, RequestID: httpserver.RequestID(ctx), Detail: detail,
	})
	return out, nil
}

// policyDecision is the API form of a decision: the decision and the input it was made on.
func policyDecision(in policyeval.Input, d policyeval.Decision) (*modelpolicyapi.PolicyDecision, error) {
	out := &modelpolicyapi.PolicyDecision{
		Allow:          d.Allow,
		Reasons:        append([]string{}, d.Reasons...),
		Obligations:    modelpolicyapi.PolicyDecisionObligations{},
		PolicyRevision: d.Revision,
		Input:          modelpolicyapi.PolicyDecisionInput{},
	}
	for k, v := range d.Obligations {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out.Obligations[k] = jx.Raw(b)
	}
	if in.Tools == nil {
		in.Tools = []string{}
	}
	if in.Tenant.Labels == nil {
		in.Tenant.Labels = map[string]string{}
	}
	if in.Principal.Roles == nil {
		in.Principal.Roles = []string{}
	}
	var asMap map[string]json.RawMessage
	b, _ := json.Marshal(in)
	_ = json.Unmarshal(b, &asMap)
	for k, v := range asMap {
		out.Input[k] = jx.Raw(v)
	}
	return out, nil
}

// GetPolicyStatus implements getPolicyStatus.
func (s *Service) GetPolicyStatus(context.Context) (*modelpolicyapi.PolicyStatus, error) {
	st := s.policy.Status()
	out := &modelpolicyapi.PolicyStatus{Source: st.Source, Revision: st.Revision, LoadedAt: st.LoadedAt}
	if st.LastError != "" {
		out.LastError = modelpolicyapi.NewOptString(st.LastError)
		out.LastErrorAt = modelpolicyapi.NewOptDateTime(st.LastErrorAt)
	}
	return out, nil
}

// maxUsageRange bounds a usage query per window kind (a minute query over a year would
// be half a million buckets per model and principal).
var maxUsageRange = map[string]time.Duration{
	usage.WindowMinute: 24 * time.Hour,
	usage.WindowHour:   31 * 24 * time.Hour,
	usage.WindowDay:    400 * 24 * time.Hour,
}

// GetUsage implements getUsage.
func (s *Service) GetUsage(ctx context.Context, params modelpolicyapi.GetUsageParams) (*modelpolicyapi.UsageReport, error) {
	p, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errors.New("no principal on an authenticated operation")
	}
	window := string(params.Window.Or(modelpolicyapi.GetUsageWindowHour))
	until := params.Until.Or(s.now()).UTC()
	since := params.Since.Or(until.Add(-24 * time.Hour)).UTC()
	if !since.Before(until) {
		return nil, apierr.InvalidField("since", "must be before until")
	}
	if until.Sub(since) > maxUsageRange[window] {
		return nil, apierr.InvalidField("since", "the range is longer than "+maxUsageRange[window].String()+" for window "+window)
	}
	buckets, err := usage.Query(ctx, s.db.DB, window, usage.Filter{
		Tenant: p.TenantID, Since: since, Until: until, Model: params.Model.Or(""), Principal: params.Principal.Or(""),
	})
	if err != nil {
		return nil, err
	}
	out := &modelpolicyapi.UsageReport{
		Window: modelpolicyapi.UsageReportWindow(window), Since: since, Until: until, Buckets: make([]modelpolicyapi.UsageBucket, 0, len(buckets)),
	}
	for _, b := range buckets {
		out.Buckets = append(out.Buckets, modelpolicyapi.UsageBucket{
			Start: b.Start, Model: b.Model, Principal: b.Principal, Requests: b.Requests,
			PromptTokens: b.PromptTokens, CompletionTokens: b.CompletionTokens, TotalTokens: b.TotalTokens,
			EstimatedRequests: b.EstimatedRequests, Estimated: b.EstimatedRequests > 0,
		})
		out.Totals.Requests += b.Requests
		out.Totals.PromptTokens += b.PromptTokens
		out.Totals.CompletionTokens += b.CompletionTokens
		out.Totals.TotalTokens += b.TotalTokens
		out.Totals.EstimatedRequests += b.EstimatedRequests
	}
	return out, nil
}

// tenantMustExist is a 404 tenant_not_found for an unknown tenant.
func (s *Service) tenantMustExist(ctx context.Context, id string) error {
	ok, err := s.tenants.Exists(ctx, id)
	if err != nil {
		return apierr.Wrap(err, apierr.CodeUnavailable, "tenant lookup unavailable")
	}
	if !ok {
		return apierr.New(apierr.CodeTenantNotFound, "tenant %q not found", id)
	}
	return nil
}

// inTxAudited runs change and appends its audit record in one transaction, then emits
// the record to the sink, as the tenant admin API does.
func (s *Service) inTxAudited(ctx context.Context, tenantID, action string, change func(ctx context.Context, tx bun.Tx) (resource string, detail map[string]any, err error)) error {
	p, _ := tenancy.FromContext(ctx)
	var rec audit.Record
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		resource, detail, err := change(ctx, tx)
		if err != nil {
			return err
		}
		rec, err = s.audit.Record(ctx, tx, audit.Record{
			TenantID: tenantID, Time: s.now(), Principal: p.PrincipalID, Action: action, Resource: resource,
			Outcome: audit.OutcomeSuccess, RequestID: httpserver.RequestID(ctx), Detail: detail,
		})
		return err
	})
	if err != nil {
		return err
	}
	s.audit.Emit(rec)
	return nil
}

// CreateApiKey implements createApiKey.
func (s *Service) CreateApiKey(ctx context.Context, req *modelpolicyapi.ApiKeyInput, params modelpolicyapi.CreateApiKeyParams) (*modelpolicyapi.ApiKeyCreated, error) {
	tenantID := string(params.TenantID)
	if err := s.tenantMustExist(ctx, tenantID); err != nil {
		return nil, err
	}
	var (
		k      apikey.Key
		secret string
	)
	err := s.inTxAudited(ctx, tenantID, "apikey.create", func(ctx context.Context, tx bun.Tx) (string, map[string]any, error) {
		var err error
		k, secret, err = apikey.Create(ctx, tx, tenantID, req.Name, req.PrincipalID.Or(""), s.now())
		return "api-keys/" + k.ID, map[string]any{"name": k.Name, "principal_id": k.PrincipalID}, err
	})
	if err != nil {
		return nil, err
	}
	return &modelpolicyapi.ApiKeyCreated{
		ID: k.ID, TenantID: modelpolicyapi.TenantId(k.TenantID), Name: k.Name, PrincipalID: k.PrincipalID,
		Display: k.Display, CreatedAt: k.CreatedAt, Key: secret,
	}, nil
}

// ListApiKeys implements listApiKeys.
func (s *Service) ListApiKeys(ctx context.Context, params modelpolicyapi.ListApiKeysParams) (*modelpolicyapi.ApiKeyList, error) {
	tenantID := string(params.TenantID)
	if err := s.tenantMustExist(ctx, tenantID); err != nil {
		return nil, err
	}
	keys, err := apikey.List(ctx, s.db.DB, tenantID)
	if err != nil {
		return nil, err
	}
	out := &modelpolicyapi.ApiKeyList{Items: make([]modelpolicyapi.ApiKey, 0, len(keys))}
	for _, k := range keys {
		out.Items = append(out.Items, modelpolicyapi.ApiKey{
			ID: k.ID, TenantID: modelpolicyapi.TenantId(k.TenantID), Name: k.Name, PrincipalID: k.PrincipalID,
			Display: k.Display, CreatedAt: k.CreatedAt,
		})
	}
	return out, nil
}

// DeleteApiKey implements deleteApiKey. Another tenant's key is a 404.
func (s *Service) DeleteApiKey(ctx context.Context, params modelpolicyapi.DeleteApiKeyParams) error {
	tenantID := string(params.TenantID)
	if err := s.tenantMustExist(ctx, tenantID); err != nil {
		return err
	}
	err := s.inTxAudited(ctx, tenantID, "apikey.delete", func(ctx context.Context, tx bun.Tx) (string, map[string]any, error) {
		return "api-keys/" + params.KeyID, nil, apikey.Delete(ctx, tx, tenantID, params.KeyID)
	})
	if errors.Is(err, apikey.ErrNotFound) {
		return apierr.NotFound("api key", params.KeyID)
	}
	if err != nil {
		return err
	}
	s.keys.Invalidate()
	return nil
}
