package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// Every tool call is put to Model Policy (POST /v1/tools:authorize) after its arguments
// are validated and before it runs: the worker never decides policy. A deny, and any
// failure to get a decision, is the tool's error result for the model (fail closed).

// mpTenantCreds sends the run credential of the context to Model Policy (its run token,
// else X-Tenant-Id), as the chat calls do.
type mpTenantCreds struct{}

func (mpTenantCreds) TenantHeader(ctx context.Context, _ modelpolicyapi.OperationName) (modelpolicyapi.TenantHeader, error) {
	c := credOf(ctx)
	if c.token != "" || c.tenant == "" {
		return modelpolicyapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.TenantHeader{APIKey: c.tenant}, nil
}
func (mpTenantCreds) BearerAuth(ctx context.Context, _ modelpolicyapi.OperationName) (modelpolicyapi.BearerAuth, error) {
	c := credOf(ctx)
	if c.token == "" {
		return modelpolicyapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.BearerAuth{Token: c.token}, nil
}
func (mpTenantCreds) AdminToken(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.AdminToken, error) {
	return modelpolicyapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
}

// grant is an allowed call's obligations that the worker enforces.
type grant struct {
	obligations modelpolicyapi.PolicyDecisionObligations
}

// boolean returns the boolean obligation name (false when absent or not a boolean).
func (g grant) boolean(name string) bool {
	return string(g.obligations[name]) == "true"
}

// positive returns the positive integer obligation name, if the decision carries one.
func (g grant) positive(name string) (int64, bool) {
	raw, ok := g.obligations[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	return n, err == nil && n > 0
}

// toolKind is how the agent defines the tool name: its type and, for an MCP tool, the
// server. A name the agent does not define is a function tool.
func toolKind(a orchestratorapi.Agent, name string) (modelpolicyapi.ToolCallAuthorizationType, string) {
	for _, t := range a.Tools {
		if t.Name != name {
			continue
		}
		switch t.Type.Or(orchestratorapi.ToolTypeFunction) {
		case orchestratorapi.ToolTypeBuiltin:
			return modelpolicyapi.ToolCallAuthorizationTypeBuiltin, ""
		case orchestratorapi.ToolTypeMcp:
			server := ""
			if m, ok := t.Mcp.Get(); ok {
				server = m.URL.Or(strings.Join(m.Command, " "))
			}
			return modelpolicyapi.ToolCallAuthorizationTypeMcp, server
		}
		return modelpolicyapi.ToolCallAuthorizationTypeFunction, ""
	}
	return modelpolicyapi.ToolCallAuthorizationTypeFunction, ""
}

// authorize asks Model Policy whether the run may call tool name (for http_fetch, on
// rawURL). Every refusal is an error for the model to read.
func (rs *runState) authorize(name, rawURL string) (grant, error) {
	typ, server := toolKind(rs.lr.Agent, name)
	if t, ok := rs.mcp.tool(name); ok { // a tool of an MCP server: the agent's entry says which
		typ, server = toolKind(rs.lr.Agent, t.conn.entry)
	}
	req := &modelpolicyapi.ToolCallAuthorization{
		Tool: name, Type: typ,
		RunID:   modelpolicyapi.NewOptString(string(rs.lr.Run.RunID)),
		AgentID: modelpolicyapi.NewOptString(string(rs.lr.Agent.AgentID)),
	}
	if server != "" {
		req.Server = modelpolicyapi.NewOptString(server)
	}
	if rawURL != "" {
		req.URL = modelpolicyapi.NewOptString(rawURL)
	}
	ctx, cancel := context.WithTimeout(rs.withCred(rs.ctx), 30*time.Second)
	defer cancel()
	d, err := rs.w.mp.AuthorizeToolCall(ctx, req)
	var p *modelpolicyapi.ProblemStatusCode
	switch {
	case errors.As(err, &p) && p.StatusCode == http.StatusForbidden:
		var reasons []string
		for _, e := range p.Response.Errors {
			reasons = append(reasons, e.Reason)
		}
		if len(reasons) == 0 {
			reasons = append(reasons, p.Response.Detail.Or(p.Response.Title))
		}
		return grant{}, deniedError(name, reasons)
	case errors.As(err, &p):
		return grant{}, fmt.Errorf("tool %s not run: the policy check failed: %d %s: %s", name, p.StatusCode, p.Response.Code, p.Response.Detail.Or(p.Response.Title))
	case err != nil:
		return grant{}, fmt.Errorf("tool %s not run: the policy check failed: %w", name, err)
	case !d.Allow:
		return grant{}, deniedError(name, d.Reasons)
	}
	return grant{obligations: d.Obligations}, nil
}

func deniedError(name string, reasons []string) error {
	return fmt.Errorf("policy denied tool %s: %s", name, strings.Join(reasons, "; "))
}
