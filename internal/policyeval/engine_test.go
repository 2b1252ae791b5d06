package policyeval_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/policy"
)

func input() policyeval.Input {
	return policyeval.Input{
		Tenant:    policyeval.TenantInput{ID: "tnt_a", Known: true},
		Principal: policyeval.PrincipalInput{ID: "alice", Auth: "dev"},
		Operation: "chat.completions",
		Model:     "builtin-chat",
	}
}

func TestEmbeddedBundleDecides(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := policyeval.New(ctx, policyeval.Options{Embedded: policy.Bundle})
	require.NoError(t, err)
	d, err := e.Evaluate(ctx, input())
	require.NoError(t, err)
	require.True(t, d.Allow)
	require.Empty(t, d.Reasons)
	n, ok := d.MaxTokens()
	require.True(t, ok)
	require.EqualValues(t, 4096, n)
	require.Len(t, d.Revision, 16)
	require.Equal(t, "embedded", e.Status().Source)

	in := input()
	in.Tenant.Known = false
	d, err = e.Evaluate(ctx, in)
	require.NoError(t, err)
	require.False(t, d.Allow)
	require.Equal(t, []string{"unknown tenant"}, d.Reasons)
}

func TestUndefinedDecisionDenies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fsys := fstest.MapFS{"p.rego": {Data: []byte(`package agentos.model
decision := {"allow": true, "reasons": [], "obligations": {}} if input.tenant.id == "only_me"
`)}}
	e, err := policyeval.New(ctx, policyeval.Options{Embedded: fsys})
	require.NoError(t, err)
	d, err := e.Evaluate(ctx, input())
	require.NoError(t, err)
	require.False(t, d.Allow)
	require.Equal(t, []string{policyeval.ReasonUndefined}, d.Reasons)

	in := input()
	in.Tenant.ID = "only_me"
	d, err = e.Evaluate(ctx, in)
	require.NoError(t, err)
	require.True(t, d.Allow)
}

func TestMalformedDecisionDenies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, src := range map[string]string{
		"string":       `decision := "yes"`,
		"allow string": `decision := {"allow": "true"}`,
		"no reasons":   `decision := {"allow": false}`,
	} {
		e, err := policyeval.New(ctx, policyeval.Options{Embedded: fstest.MapFS{"p.rego": {Data: []byte("package agentos.model\n" + src + "\n")}}})
		require.NoError(t, err, name)
		d, err := e.Evaluate(ctx, input())
		require.NoError(t, err, name)
		require.False(t, d.Allow, name)
		require.NotEmpty(t, d.Reasons, name)
	}
}

func TestBundleErrorsAreClear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := map[string]struct {
		fs   fstest.MapFS
		want string
	}{
		"parse":       {fstest.MapFS{"a/p.rego": {Data: []byte("package agentos.model\ndecision := {")}}, "a/p.rego:2"},
		"compile":     {fstest.MapFS{"p.rego": {Data: []byte("package agentos.model\ndecision := x")}}, "var x is unsafe"},
		"no decision": {fstest.MapFS{"p.rego": {Data: []byte("package agentos.other\nallow := true")}}, "no module defines data.agentos.model.decision"},
		"no modules":  {fstest.MapFS{"data.json": {Data: []byte("{}")}}, "no Rego modules"},
		"bad data":    {fstest.MapFS{"p.rego": {Data: []byte("package agentos.model\ndecision := 1")}, "data.json": {Data: []byte("{")}}, "data.json"},
	}
	for name, c := range cases {
		_, err := policyeval.New(ctx, policyeval.Options{Embedded: c.fs})
		require.Error(t, err, name)
		require.Contains(t, err.Error(), c.want, name)
	}
}

func TestDataIsPlacedByDirectory(t *testing.T) {
	t.Parallel()
	b, err := policyeval.LoadBundle(fstest.MapFS{
		"p.rego":                           {Data: []byte("package x\ny := 1")},
		"data.json":                        {Data: []byte(`{"top": 1}`)},
		"agentos/model_settings/data.yaml": {Data: []byte("defaults:\n  max_tokens: 7\n")},
		"notes.json":                       {Data: []byte(`not data, ignored`)},
		"p_test.rego":                      {Data: []byte("package x_test\ntest_a if true")},
	}, false)
	require.NoError(t, err)
	require.Len(t, b.Modules, 1)
	require.Contains(t, b.Data, "top")
	model := b.Data["agentos"].(map[string]any)["model_settings"].(map[string]any)
	require.EqualValues(t, "7", model["defaults"].(map[string]any)["max_tokens"].(interface{ String() string }).String())
}

// writePolicy writes the embedded bundle into dir with the given max_tokens default.
func writePolicy(t *testing.T, dir string, maxTokens string) {
	t.Helper()
	src, err := policy.Bundle.ReadFile("model.rego")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.rego"), src, 0o644))
	data := `{"agentos":{"model_settings":{"defaults":{"models":["*"],"tools":["*"],"max_tokens":` + maxTokens + `},"tenants":{}}}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.json"), []byte(data), 0o644))
}

func TestReloadKeepsServingOnBrokenPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	writePolicy(t, dir, "100")
	var mu sync.Mutex
	var events []string
	e, err := policyeval.New(ctx, policyeval.Options{Dir: dir, OnReload: func(rev string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			events = append(events, "error")
		} else {
			events = append(events, rev)
		}
	}})
	require.NoError(t, err)
	first := e.Revision()

	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package agentos.model\nthis is not rego"), 0o644))
	err = e.Reload(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "broken.rego")
	require.Equal(t, first, e.Revision(), "the previous policy keeps serving")
	st := e.Status()
	require.Contains(t, st.LastError, "broken.rego")
	d, err := e.Evaluate(ctx, input())
	require.NoError(t, err)
	n, _ := d.MaxTokens()
	require.EqualValues(t, 100, n)

	require.NoError(t, os.Remove(filepath.Join(dir, "broken.rego")))
	writePolicy(t, dir, "200")
	require.NoError(t, e.Reload(ctx))
	require.NotEqual(t, first, e.Revision())
	require.Empty(t, e.Status().LastError)
	d, err = e.Evaluate(ctx, input())
	require.NoError(t, err)
	n, _ = d.MaxTokens()
	require.EqualValues(t, 200, n)
	mu.Lock()
	require.Equal(t, []string{"error", e.Revision()}, events)
	mu.Unlock()
}

func TestWatchReloadsOnChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	writePolicy(t, dir, "100")
	e, err := policyeval.New(ctx, policyeval.Options{Dir: dir, PollInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, e.Watch())
	t.Cleanup(e.Close)
	first := e.Revision()
	writePolicy(t, dir, "300")
	require.Eventually(t, func() bool { return e.Revision() != first }, 5*time.Second, 20*time.Millisecond)
	d, err := e.Evaluate(ctx, input())
	require.NoError(t, err)
	n, _ := d.MaxTokens()
	require.EqualValues(t, 300, n)

	// A broken edit is rejected; the good policy keeps serving.
	second := e.Revision()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.rego"), []byte("package agentos.model\ndecision := {"), 0o644))
	require.Eventually(t, func() bool { return e.Status().LastError != "" }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, second, e.Revision())
}

func TestEvaluateRaw(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := policyeval.New(ctx, policyeval.Options{Embedded: policy.Bundle})
	require.NoError(t, err)
	d, err := e.EvaluateRaw(ctx, map[string]any{"tenant": map[string]any{"id": "x", "known": true}, "model": "m", "tools": []any{}})
	require.NoError(t, err)
	require.True(t, d.Allow)
	d, err = e.EvaluateRaw(ctx, map[string]any{})
	require.NoError(t, err)
	require.False(t, d.Allow)
}

func BenchmarkEvaluate(b *testing.B) {
	ctx := context.Background()
	e, err := policyeval.New(ctx, policyeval.Options{Embedded: policy.Bundle, NoCache: true})
	require.NoError(b, err)
	in := input()
	in.Tools = []string{"memory_get", "http_fetch"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
