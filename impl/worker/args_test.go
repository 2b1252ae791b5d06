package worker

import (
	"testing"

	"github.com/go-faster/jx"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

func TestValidateArguments(t *testing.T) {
	t.Parallel()
	agent := orchestratorapi.Agent{Tools: []orchestratorapi.Tool{
		{Name: "lookup", Parameters: orchestratorapi.NewOptToolParameters(orchestratorapi.ToolParameters{
			"type":       jx.Raw(`"object"`),
			"properties": jx.Raw(`{"id": {"type": "integer", "minimum": 1}}`),
			"required":   jx.Raw(`["id"]`),
		})},
		{Name: "calculator", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)},
		{Name: "free"},
	}}
	call := func(name, args string) toolCall {
		var c toolCall
		c.Function.Name, c.Function.Arguments = name, args
		return c
	}
	require.NoError(t, validateArguments(agent, call("lookup", `{"id": 3}`)))
	require.ErrorContains(t, validateArguments(agent, call("lookup", `{"id": 0}`)), "do not match")
	require.ErrorContains(t, validateArguments(agent, call("lookup", `{}`)), "do not match")
	require.ErrorContains(t, validateArguments(agent, call("lookup", `not json`)), "not JSON")
	require.NoError(t, validateArguments(agent, call("calculator", `{"expression": "1+1"}`)))
	require.ErrorContains(t, validateArguments(agent, call("calculator", `{"expr": "1+1"}`)), "do not match")
	require.NoError(t, validateArguments(agent, call("free", `{"anything": true}`)), "a tool without a schema takes any arguments")
}

func TestCompileSchemaIsShared(t *testing.T) {
	t.Parallel()
	text := []byte(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"title":"shared"}`)
	first, err := compileSchema("a", text)
	require.NoError(t, err)
	second, err := compileSchema("b", text)
	require.NoError(t, err)
	require.Same(t, first, second, "the same schema text is compiled once")
	require.Error(t, checkArguments("b", second, `{"n":"one"}`))
	require.NoError(t, checkArguments("b", second, `{"n":1}`))

	_, err = compileSchema("broken", []byte(`{"type":12}`))
	require.ErrorContains(t, err, `tool "broken" has an invalid parameter schema`)
	_, err = compileSchema("again", []byte(`{"type":12}`))
	require.ErrorContains(t, err, `tool "again"`, "a failed compile is not cached under another tool's name")
}
