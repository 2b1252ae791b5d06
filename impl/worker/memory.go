package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// Memory tools act for the run's tenant through the orchestrator's memory API; the
// namespace is the agent's id unless the call names another.

// tenantCreds sends the run credential of the context (credentials.go): its run token,
// else its tenant as X-Tenant-Id.
type tenantCreds struct{}

func (tenantCreds) TenantHeader(ctx context.Context, _ orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	c := credOf(ctx)
	if c.token != "" || c.tenant == "" {
		return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.TenantHeader{APIKey: c.tenant}, nil
}
func (tenantCreds) BearerAuth(ctx context.Context, _ orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	c := credOf(ctx)
	if c.token == "" {
		return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.BearerAuth{Token: c.token}, nil
}
func (tenantCreds) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
}
func (tenantCreds) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	return orchestratorapi.WorkerToken{}, ogenerrors.ErrSkipClientSecurity
}

const (
	memoryPutSchema    = `{"type":"object","properties":{"key":{"type":"string"},"value":{"type":"string"},"namespace":{"type":"string"},"ttl_seconds":{"type":"integer","minimum":1}},"required":["key","value"]}`
	memoryGetSchema    = `{"type":"object","properties":{"key":{"type":"string"},"namespace":{"type":"string"}},"required":["key"]}`
	memorySearchSchema = `{"type":"object","properties":{"query":{"type":"string"},"namespace":{"type":"string"},"top_k":{"type":"integer","minimum":1,"maximum":100}},"required":["query"]}`
)

func (rs *runState) memoryTool(name, arguments string) (string, error) {
	var args struct {
		Key        string `json:"key"`
		Value      string `json:"value"`
		Namespace  string `json:"namespace"`
		Query      string `json:"query"`
		TopK       int32  `json:"top_k"`
		TTLSeconds int32  `json:"ttl_seconds"`
	}
	if err := json.Unmarshal([]byte(validJSON(arguments)), &args); err != nil {
		return "", fmt.Errorf("%s arguments: %w", name, err)
	}
	ns := args.Namespace
	if ns == "" {
		ns = string(rs.lr.Agent.AgentID)
	}
	ctx := rs.withCred(rs.ctx)
	c := rs.w.tenantClient
	switch name {
	case "memory_put":
		in := &orchestratorapi.MemoryInput{Value: args.Value}
		if args.TTLSeconds > 0 {
			in.TTLSeconds = orchestratorapi.NewOptInt32(args.TTLSeconds)
		}
		if _, err := c.PutMemory(ctx, in, orchestratorapi.PutMemoryParams{Namespace: ns, Key: args.Key}); err != nil {
			return "", problemText(err)
		}
		return "stored " + args.Key, nil
	case "memory_get":
		item, err := c.GetMemory(ctx, orchestratorapi.GetMemoryParams{Namespace: ns, Key: args.Key})
		if err != nil {
			return "", problemText(err)
		}
		return item.Value, nil
	case "memory_search":
		in := &orchestratorapi.MemorySearchInput{Query: args.Query}
		if args.TopK > 0 {
			in.TopK = orchestratorapi.NewOptInt32(args.TopK)
		}
		res, err := c.SearchMemory(ctx, in, orchestratorapi.SearchMemoryParams{Namespace: ns})
		if err != nil {
			return "", problemText(err)
		}
		out, _ := json.Marshal(res.Items)
		return string(out), nil
	}
	return "", fmt.Errorf("unknown memory tool %q", name)
}

func problemText(err error) error {
	var p *orchestratorapi.ProblemStatusCode
	if errors.As(err, &p) {
		return fmt.Errorf("%s: %s", p.Response.Code, p.Response.Detail.Or(p.Response.Title))
	}
	return err
}
