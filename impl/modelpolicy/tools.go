package modelpolicy

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/internal/tenancy"
)

// AuthorizeToolCall implements authorizeToolCall: the policy's decision on one tool call
// a worker is about to make (operation tool.call). An allow is the decision with its
// obligations; a deny is a 403 problem carrying every reason, as a denied model call
// is, so that a caller checking only the status fails closed. Every decision is audited
// as tool.authorize with the policy revision.
func (s *Service) AuthorizeToolCall(ctx context.Context, req *modelpolicyapi.ToolCallAuthorization) (*modelpolicyapi.PolicyDecision, error) {
	p, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errors.New("no principal on an authenticated operation")
	}
	info, err := s.info.get(ctx, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, apierr.CodeUnavailable, "tenant lookup unavailable")
	}
	in := policyeval.Input{
		Tenant:    policyeval.TenantInput{ID: p.TenantID, Known: info.known, Labels: info.labels},
		Principal: policyeval.PrincipalInput{ID: p.PrincipalID, Roles: p.Roles, Auth: p.AuthMode},
		Operation: opToolCall,
		Tools:     []string{req.Tool},
		Tool:      toolInput(req),
		RunID:     req.RunID.Or(""),
		AgentID:   req.AgentID.Or(""),
	}
	if p.RunID != "" { // a run token names the run; it wins over the body's run_id
		in.RunID = p.RunID
	}
	d, err := s.decide(ctx, in)
	if err != nil {
		return nil, err
	}
	detail := map[string]any{
		"operation": opToolCall, "tool": in.Tool.Name, "type": in.Tool.Type,
		"decision": decisionWord(d.Allow), "policy_revision": d.Revision,
	}
	for k, v := range map[string]string{"server": in.Tool.Server, "host": in.Tool.Host, "url": redactedURL(in.Tool.URL), "run_id": in.RunID, "agent_id": in.AgentID} {
		if v != "" {
			detail[k] = v
		}
	}
	outcome := audit.OutcomeSuccess
	if d.Allow {
		if len(d.Obligations) > 0 {
			detail["obligations"] = d.Obligations
		}
	} else {
		outcome = audit.OutcomeDenied
		detail["reasons"] = d.Reasons
	}
	s.batch.Add(ctx, audit.Record{
		TenantID: p.TenantID, Time: s.now(), Principal: p.PrincipalID, Action: "tool.authorize",
		Resource: "tools/" + in.Tool.Name, Outcome: outcome, RequestID: httpserver.RequestID(ctx), Detail: detail,
	})
	if !d.Allow {
		return nil, denied(d.Reasons)
	}
	return policyDecision(in, d)
}

// toolInput is the policy's view of the call: the URL of an http_fetch parsed here, once,
// with Go's parser (the one the worker's HTTP client uses), so a policy matches the
// host the request will go to. A URL that does not parse gives an empty scheme and host.
func toolInput(req *modelpolicyapi.ToolCallAuthorization) policyeval.ToolInput {
	t := policyeval.ToolInput{Name: req.Tool, Type: string(req.Type), Server: req.Server.Or(""), URL: req.URL.Or("")}
	if t.URL == "" {
		return t
	}
	u, err := url.Parse(t.URL)
	if err != nil || !u.IsAbs() {
		return t
	}
	t.Scheme = strings.ToLower(u.Scheme)
	t.Host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch port := u.Port(); {
	case port != "":
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			t.Port = n
		}
	case t.Scheme == "http":
		t.Port = 80
	case t.Scheme == "https":
		t.Port = 443
	}
	return t
}

// redactedURL is a URL for the audit log: its password masked.
func redactedURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
