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
