package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

func TestDecodeAgentFile(t *testing.T) {
	t.Parallel()

	t.Run("YAML with every field", func(t *testing.T) {
		t.Parallel()
		def, err := decodeAgentFile("agent.yaml", strings.NewReader(`
id: support
model: gpt-4o-mini
description: 2024-01-01
instructions: |
  Be brief.
  Be kind.
labels: {team: core, tier: 1}
limits: {max_steps: 5, max_tokens: 1000, timeout_seconds: 60}
tools:
  - name: lookup
    description: find an order
    parameters:
      type: object
      properties: {order_id: {type: string}}
  - name: calculator
    type: builtin
  - name: files
    type: mcp
    mcp: {transport: stdio, command: [mcp-files, --root, /srv], env: {A: b}, tools: [read]}
`))
		require.NoError(t, err)
		require.Equal(t, "support", def.ID)
		in := def.Input
		require.Equal(t, "gpt-4o-mini", in.Model)
		require.Equal(t, "2024-01-01", in.Description.Or(""), "a date-looking scalar stays the string it was written as")
		require.Equal(t, "Be brief.\nBe kind.\n", in.Instructions.Or(""))
		require.Equal(t, orchestratorapi.StringMap{"team": "core", "tier": "1"}, in.Labels.Or(nil))
		require.Equal(t, int32(5), in.Limits.Value.MaxSteps.Or(0))
		require.Len(t, in.Tools, 3)
		require.JSONEq(t, `{"order_id":{"type":"string"}}`, string(in.Tools[0].Parameters.Value["properties"]))
		require.Equal(t, orchestratorapi.ToolTypeBuiltin, in.Tools[1].Type.Or(""))
		require.Equal(t, []string{"mcp-files", "--root", "/srv"}, in.Tools[2].Mcp.Value.Command)
	})

	t.Run("null leaves a field out", func(t *testing.T) {
		t.Parallel()
		def, err := decodeAgentFile("agent.yaml", strings.NewReader("id: a\nmodel: m\ndescription:\nlimits: {max_steps: ~}\n"))
		require.NoError(t, err)
		require.False(t, def.Input.Description.Set)
		require.False(t, def.Input.Limits.Value.MaxSteps.Set)
	})

	t.Run("JSON with agent_id", func(t *testing.T) {
		t.Parallel()
		def, err := decodeAgentFile("agent.json", strings.NewReader(`{"agent_id": "a1", "model": "m", "labels": {"k": "v"}}`))
		require.NoError(t, err)
		require.Equal(t, "a1", def.ID)
		require.Equal(t, "m", def.Input.Model)
	})

	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown keys at every depth", "id: a\nmodel: m\nmodle: x\nlimits: {max_step: 1}\ntools:\n  - name: t\n    descripton: d\n    mcp: {transport: http, urls: x}\n",
			"agent.yaml: unknown keys: modle (line 3), limits.max_step (line 4), tools[0].descripton (line 7), tools[0].mcp.urls (line 8)"},
		{"no id", "model: m\n", "agent.yaml: id: required"},
		{"ids disagree", "id: a\nagent_id: b\nmodel: m\n", `id "a" and agent_id "b" disagree`},
		{"null id", "id:\nmodel: m\n", "id: want a non-empty string"},
		{"empty", "", "agent.yaml: no agent definition"},
		{"two documents", "id: a\nmodel: m\n---\nid: b\nmodel: m\n", "want one document"},
		{"not a mapping", "- a\n- b\n", "want a mapping of agent fields"},
		{"duplicate key", "id: a\nmodel: m\nmodel: n\n", `line 3: key "model" repeats the one on line 2`},
		{"missing model", "id: a\ninstructions: x\n", "model"},
		{"wrong kinds, all reported", "id: a\nmodel: [m]\nlimits: {max_steps: many, timeout_seconds: 1.5}\ntools: {name: t}\n",
			"agent.yaml: model (line 2): want a string; limits.max_steps (line 3): want an integer (int32); limits.timeout_seconds (line 3): want an integer (int32); tools (line 4): want a list"},
		{"int32 overflow", "id: a\nmodel: m\nlimits: {max_steps: 99999999999}\n", "limits.max_steps (line 3): want an integer (int32)"},
		{"aliases expanding past the bound", aliasBomb(), "once aliases are expanded"},
		{"bad YAML", "id: a\nmodel: [\n", "agent.yaml: yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeAgentFile("agent.yaml", strings.NewReader(tc.doc))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// aliasBomb is a small document whose anchors multiply to ten million values.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("id: a\nmodel: m\ntools:\n  - name: t\n    parameters:\n      l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "      l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func FuzzDecodeAgentFile(f *testing.F) {
	f.Add("id: a\nmodel: m\ntools: [{name: t, parameters: {type: object}}]\n")
	f.Add(`{"agent_id": "a", "model": "m", "labels": {"k": "v"}, "x": [1, {"y": null}]}`)
	f.Add("id: &x a\nmodel: *x\nlimits: {max_steps: 1e3}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		_, _ = decodeAgentFile("fuzz.yaml", strings.NewReader(doc)) // must not panic
	})
}
