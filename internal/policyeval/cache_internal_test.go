package policyeval

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/policy"
)

func TestDecisionCacheOnlyForDeterministicBundles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := New(ctx, Options{Embedded: policy.Bundle})
	require.NoError(t, err)
	require.NotNil(t, e.current.Load().cache, "the embedded bundle is deterministic")

	in := Input{Tenant: TenantInput{ID: "t", Known: true}, Model: "m", Operation: "chat.completions"}
	first, err := e.Evaluate(ctx, in)
	require.NoError(t, err)
	_, hit := e.current.Load().cache.get(in.cacheKey(e.current.Load().fields))
	require.True(t, hit)
	again, err := e.Evaluate(ctx, in)
	require.NoError(t, err)
	require.Equal(t, first, again)

	for name, src := range map[string]string{
		"time":   `decision := {"allow": true, "reasons": [], "obligations": {"t": time.now_ns()}}`,
		"nested": `decision := {"allow": true, "reasons": [], "obligations": {"t": [rand.intn("x", 10)]}}`,
		"uuid":   `x := uuid.rfc4122("a")` + "\n" + `decision := {"allow": true, "reasons": [x], "obligations": {}}`,
	} {
		e, err := New(ctx, Options{Embedded: fstest.MapFS{"p.rego": {Data: []byte("package agentos.model\n" + src + "\n")}}})
		require.NoError(t, err, name)
		require.Nil(t, e.current.Load().cache, "%s: a non-deterministic bundle is not cached", name)
	}

	e, err = New(ctx, Options{Embedded: policy.Bundle, NoCache: true})
	require.NoError(t, err)
	require.Nil(t, e.current.Load().cache)
}

func TestCacheKeyDistinguishesEveryField(t *testing.T) {
	t.Parallel()
	base := Input{
		Tenant: TenantInput{ID: "t", Known: true, Labels: map[string]string{"a": "1", "b": "2"}}, Principal: PrincipalInput{ID: "p", Roles: []string{"r"}, Auth: "dev"},
		Operation: "chat.completions", Model: "m", Tools: []string{"x", "y"}, EstimatedTokens: 5, MaxTokens: 6, Stream: true,
		Tool: ToolInput{Name: "t", Type: "builtin"},
	}
	variants := []func(*Input){
		func(i *Input) { i.Tenant.ID = "u" },
		func(i *Input) { i.Tenant.Known = false },
		func(i *Input) { i.Tenant.Labels = map[string]string{"a": "1"} },
		func(i *Input) { i.Tenant.Labels = map[string]string{"a": "1", "b": "3"} },
		func(i *Input) { i.Principal.ID = "q" },
		func(i *Input) { i.Principal.Roles = nil },
		func(i *Input) { i.Principal.Auth = "jwt" },
		func(i *Input) { i.Operation = "embeddings" },
		func(i *Input) { i.Model = "n" },
		func(i *Input) { i.Tools = []string{"xy"} },
		func(i *Input) { i.Tools = []string{"y", "x"} },
		func(i *Input) { i.EstimatedTokens = 50 },
		func(i *Input) { i.MaxTokens = 0 },
		func(i *Input) { i.Stream = false },
		func(i *Input) { i.Model, i.Operation = "chat.completions", "m" },
		func(i *Input) { i.Tool.Name = "http_fetch" },
		func(i *Input) { i.Tool.Type = "mcp" },
		func(i *Input) { i.Tool.Server = "s" },
		func(i *Input) { i.Tool.URL = "http://h/" },
		func(i *Input) { i.Tool.Scheme = "https" },
		func(i *Input) { i.Tool.Host = "h" },
		func(i *Input) { i.Tool.Port = 443 },
		func(i *Input) { i.Tool.Name, i.Tool.Type = "builtin", "x" },
		func(i *Input) { i.RunID = "run_1" },
		func(i *Input) { i.AgentID = "a" },
		func(i *Input) { i.RunID, i.AgentID = "a", "" },
	}
	seen := map[string]int{base.cacheKey(allInputFields): -1}
	for n, v := range variants {
		in := base
		in.Tools = append([]string(nil), base.Tools...)
		v(&in)
		k := in.cacheKey(allInputFields)
		prev, dup := seen[k]
		require.False(t, dup, "variant %d has the key of %d", n, prev)
		seen[k] = n
	}
	reordered := base
	reordered.Tenant.Labels = map[string]string{"b": "2", "a": "1"}
	require.Equal(t, base.cacheKey(allInputFields), reordered.cacheKey(allInputFields), "label order does not matter")
}

func TestInputFields(t *testing.T) {
	t.Parallel()
	b, err := LoadBundle(policy.Bundle, false)
	require.NoError(t, err)
	require.Equal(t, inputFields{tenantID: true, tenantKnown: true, operation: true, model: true, tools: true, tool: true}, b.InputFields(),
		"the default bundle reads the tenant's id and existence, the operation, the model, the tools and the tool call")

	for src, want := range map[string]inputFields{
		`decision := {"allow": input.stream, "reasons": [], "obligations": {}}`:                              {stream: true},
		`decision := {"allow": count(input.tenant) > 0, "reasons": [], "obligations": {}}`:                   {tenantID: true, tenantKnown: true, tenantLabels: true},
		`decision := {"allow": input.principal.roles[0] == "x", "reasons": [], "obligations": {}}`:           {principalRoles: true},
		`decision := {"allow": is_object(input), "reasons": [], "obligations": {}}`:                          allInputFields,
		"f(x) := x.model\ndecision := {\"allow\": f(input) == \"m\", \"reasons\": [], \"obligations\": {}}":  allInputFields,
		`decision := {"allow": input[k] == 1, "reasons": [k], "obligations": {}} if some k in ["model"]`:     allInputFields,
		`decision := {"allow": input.tenant[k] == 1, "reasons": [k], "obligations": {}} if some k in ["id"]`: {tenantID: true, tenantKnown: true, tenantLabels: true},
	} {
		b, err := LoadBundle(fstest.MapFS{"p.rego": {Data: []byte("package agentos.model\n" + src + "\n")}}, false)
		require.NoError(t, err, src)
		require.Equal(t, want, b.InputFields(), src)
	}

	// Decisions of inputs that differ only in fields the bundle does not read are shared.
	ctx := context.Background()
	e, err := New(ctx, Options{Embedded: policy.Bundle})
	require.NoError(t, err)
	in := Input{Tenant: TenantInput{ID: "t", Known: true}, Model: "m", Operation: "chat.completions", EstimatedTokens: 10}
	_, err = e.Evaluate(ctx, in)
	require.NoError(t, err)
	in.EstimatedTokens, in.Stream, in.Principal.ID = 99, true, "other"
	_, hit := e.current.Load().cache.get(in.cacheKey(e.current.Load().fields))
	require.True(t, hit)
}
