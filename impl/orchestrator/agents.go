package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/go-faster/jx"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/apierr"
)

// BuiltinTools are the tools every worker provides; an agent may declare them with
// `type: builtin`.
var BuiltinTools = []string{"memory_put", "memory_get", "memory_search", "http_fetch", "calculator"}

var labelKey = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,63}$`)

// PutAgent implements putAgent.
func (s *Service) PutAgent(ctx context.Context, req *orchestratorapi.AgentInput, params orchestratorapi.PutAgentParams) (orchestratorapi.PutAgentRes, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	spec, err := agentSpecFromAPI(req)
	if err != nil {
		return nil, err
	}
	id := string(params.AgentID)
	var (
		agent   store.Agent
		created bool
	)
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var before int64
		if prev, err := store.GetAgent(ctx, tx, p.TenantID, id, 0); err == nil {
			before = prev.Version
		}
		agent, created, err = store.PutAgent(ctx, tx, p.TenantID, id, spec, s.now())
		if err != nil {
			return err
		}
		if agent.Version == before {
			return nil // unchanged: nothing written, nothing to audit
		}
		return s.audit.Enqueue(ctx, tx, s.auditRecord(ctx, p.TenantID, "agent.put", "agents/"+id, map[string]any{"version": agent.Version}))
	})
	if db := s.db; err != nil && db.IsUniqueViolation(err) {
		return nil, apierr.Wrap(err, apierr.CodeConflict, "agent %q was changed concurrently; retry", id)
	}
	if err != nil {
		return nil, err
	}
	out := agentToAPI(agent)
	if created {
		res := orchestratorapi.PutAgentCreated(out)
		return &res, nil
	}
	res := orchestratorapi.PutAgentOK(out)
	return &res, nil
}

// GetAgent implements getAgent.
func (s *Service) GetAgent(ctx context.Context, params orchestratorapi.GetAgentParams) (*orchestratorapi.Agent, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	a, err := store.GetAgent(ctx, s.db.DB, p.TenantID, string(params.AgentID), params.Version.Or(0))
	if errors.Is(err, store.ErrNotFound) {
		if v, ok := params.Version.Get(); ok {
			return nil, apierr.New(apierr.CodeNotFound, "agent %q has no version %d", params.AgentID, v)
		}
		return nil, apierr.NotFound("agent", string(params.AgentID))
	}
	if err != nil {
		return nil, err
	}
	out := agentToAPI(a)
	return &out, nil
}

// ListAgents implements listAgents.
func (s *Service) ListAgents(ctx context.Context, params orchestratorapi.ListAgentsParams) (*orchestratorapi.AgentList, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for i, sel := range params.Label {
		k, v, _ := strings.Cut(sel, "=")
		if prev, dup := labels[k]; dup && prev != v {
			return nil, apierr.InvalidField(fmt.Sprintf("label[%d]", i), fmt.Sprintf("label %q is selected with two values", k))
		}
		labels[k] = v
	}
	agents, next, err := store.ListAgents(ctx, s.db.DB, p.TenantID, int(params.Limit.Or(50)), params.Cursor.Or(""), labels)
	if errors.Is(err, store.ErrBadCursor) {
		return nil, apierr.InvalidField("cursor", "not a cursor returned by this operation")
	}
	if err != nil {
		return nil, err
	}
	out := &orchestratorapi.AgentList{Items: make([]orchestratorapi.Agent, 0, len(agents))}
	for _, a := range agents {
		out.Items = append(out.Items, agentToAPI(a))
	}
	if next != "" {
		out.NextCursor = orchestratorapi.NewOptString(next)
	}
	return out, nil
}

// DeleteAgent implements deleteAgent.
func (s *Service) DeleteAgent(ctx context.Context, params orchestratorapi.DeleteAgentParams) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	id := string(params.AgentID)
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := store.DeleteAgent(ctx, tx, p.TenantID, id, s.now()); err != nil {
			return err
		}
		return s.audit.Enqueue(ctx, tx, s.auditRecord(ctx, p.TenantID, "agent.delete", "agents/"+id, nil))
	})
	if errors.Is(err, store.ErrNotFound) {
		return apierr.NotFound("agent", id)
	}
	return err
}

// agentSpecFromAPI validates what the schema cannot express and converts.
func agentSpecFromAPI(in *orchestratorapi.AgentInput) (store.AgentSpec, error) {
	spec := store.AgentSpec{
		Model:        in.Model,
		Instructions: in.Instructions.Or(""),
		Description:  in.Description.Or(""),
		Labels:       map[string]string{},
		Tools:        []store.Tool{},
	}
	if strings.TrimSpace(spec.Model) == "" {
		return spec, apierr.InvalidField("model", "must not be blank")
	}
	for k, v := range in.Labels.Or(nil) {
		if !labelKey.MatchString(k) {
			return spec, apierr.InvalidField("labels."+k, "label keys are 1-63 letters, digits, '_', '.', '-' or '/'")
		}
		if strings.Contains(v, "=") {
			return spec, apierr.InvalidField("labels."+k, "label values must not contain '='")
		}
		spec.Labels[k] = v
	}
	if l, ok := in.Limits.Get(); ok {
		spec.Limits = store.Limits{MaxSteps: l.MaxSteps.Or(0), MaxTokens: l.MaxTokens.Or(0), TimeoutSeconds: l.TimeoutSeconds.Or(0)}
	}
	seen := map[string]bool{}
	for i, t := range in.Tools {
		field := fmt.Sprintf("tools[%d]", i)
		tool := store.Tool{Name: t.Name, Type: string(t.Type.Or(orchestratorapi.ToolTypeFunction)), Description: t.Description.Or("")}
		if seen[tool.Name] {
			return spec, apierr.InvalidField(field+".name", fmt.Sprintf("duplicate tool name %q", tool.Name))
		}
		seen[tool.Name] = true
		if t.Parameters.Set {
			raw, err := rawObject(t.Parameters.Value)
			if err != nil {
				return spec, apierr.InvalidField(field+".parameters", err.Error())
			}
			if err := checkSchema(raw); err != nil {
				return spec, apierr.InvalidField(field+".parameters", "not a valid JSON Schema: "+err.Error())
			}
			tool.Parameters = raw
		}
		switch tool.Type {
		case "mcp":
			m, ok := t.Mcp.Get()
			if !ok {
				return spec, apierr.InvalidField(field+".mcp", "required when type is mcp")
			}
			ref := store.MCPServer{Transport: string(m.Transport), Command: m.Command, URL: m.URL.Or(""), Env: m.Env.Or(nil), Tools: m.Tools}
			switch ref.Transport {
			case "stdio":
				if len(ref.Command) == 0 || strings.TrimSpace(ref.Command[0]) == "" {
					return spec, apierr.InvalidField(field+".mcp.command", "required for the stdio transport")
				}
			case "http":
				u, err := url.Parse(ref.URL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return spec, apierr.InvalidField(field+".mcp.url", "an http(s) URL is required for the http transport")
				}
			}
			tool.MCP = &ref
		case "builtin":
			if !slices.Contains(BuiltinTools, tool.Name) {
				return spec, apierr.InvalidField(field+".name", fmt.Sprintf("unknown builtin tool %q (known: %s)", tool.Name, strings.Join(BuiltinTools, ", ")))
			}
			fallthrough
		default:
			if t.Mcp.Set {
				return spec, apierr.InvalidField(field+".mcp", "only allowed when type is mcp")
			}
		}
		spec.Tools = append(spec.Tools, tool)
	}
	return spec, nil
}

func rawObject(m orchestratorapi.ToolParameters) (json.RawMessage, error) {
	obj := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		if !json.Valid(v) {
			return nil, fmt.Errorf("property %q is not valid JSON", k)
		}
		obj[k] = json.RawMessage(v)
	}
	return json.Marshal(obj)
}

func checkSchema(raw json.RawMessage) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("tool.json", doc); err != nil {
		return err
	}
	_, err = c.Compile("tool.json")
	return err
}

func agentToAPI(a store.Agent) orchestratorapi.Agent {
	out := orchestratorapi.Agent{
		AgentID:      orchestratorapi.AgentId(a.ID),
		Version:      a.Version,
		Model:        a.Spec.Model,
		Instructions: a.Spec.Instructions,
		Tools:        make([]orchestratorapi.Tool, 0, len(a.Spec.Tools)),
		Labels:       orchestratorapi.StringMap(a.Spec.Labels),
		Description:  a.Spec.Description,
		CreatedAt:    a.CreatedAt,
		UpdatedAt:    a.UpdatedAt,
	}
	if out.Labels == nil {
		out.Labels = orchestratorapi.StringMap{}
	}
	if l := a.Spec.Limits; l != (store.Limits{}) {
		if l.MaxSteps > 0 {
			out.Limits.MaxSteps = orchestratorapi.NewOptInt32(l.MaxSteps)
		}
		if l.MaxTokens > 0 {
			out.Limits.MaxTokens = orchestratorapi.NewOptInt64(l.MaxTokens)
		}
		if l.TimeoutSeconds > 0 {
			out.Limits.TimeoutSeconds = orchestratorapi.NewOptInt32(l.TimeoutSeconds)
		}
	}
	for _, t := range a.Spec.Tools {
		tool := orchestratorapi.Tool{Name: t.Name, Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolType(t.Type))}
		if t.Description != "" {
			tool.Description = orchestratorapi.NewOptString(t.Description)
		}
		if len(t.Parameters) > 0 {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(t.Parameters, &m); err == nil {
				params := orchestratorapi.ToolParameters{}
				for k, v := range m {
					params[k] = jx.Raw(v)
				}
				tool.Parameters = orchestratorapi.NewOptToolParameters(params)
			}
		}
		if t.MCP != nil {
			ref := orchestratorapi.McpServer{Transport: orchestratorapi.McpServerTransport(t.MCP.Transport), Command: t.MCP.Command, Tools: t.MCP.Tools}
			if t.MCP.URL != "" {
				ref.URL = orchestratorapi.NewOptString(t.MCP.URL)
			}
			if len(t.MCP.Env) > 0 {
				ref.Env = orchestratorapi.NewOptStringMap(t.MCP.Env)
			}
			tool.Mcp = orchestratorapi.NewOptMcpServer(ref)
		}
		out.Tools = append(out.Tools, tool)
	}
	return out
}
