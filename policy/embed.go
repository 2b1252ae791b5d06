// Package policy embeds the default Rego policy bundle of AgentOS: the decision of the
// model gateway and of workers' tool calls (package agentos.model: model.rego,
// tool.rego) with its data and unit tests. It is what Model Policy serves when
// AGENTOS_POLICY_DIR is empty; a policy directory replaces it as a whole.
//
// The decision contract (see docs/design/0100-model-policy.md):
//
//	query:  data.agentos.model.decision
//	input:  {tenant: {id, known, labels}, principal: {id, roles, auth}, operation, model,
//	         tools: [names], estimated_tokens, max_tokens, stream,
//	         tool: {name, type, server, url, scheme, host, port}, run_id, agent_id}
//	result: {allow: bool, reasons: [string], obligations: {max_tokens?: int,
//	         allow_internal?: bool, max_bytes?: int, timeout_ms?: int, …}}
//
// operation is chat.completions, embeddings, models.list or tool.call; tool, run_id and
// agent_id are set for tool.call only.
//
// An undefined decision is a deny.
package policy

import "embed"

// Bundle holds the embedded policy files: *.rego modules (the *_test.rego files are Rego
// unit tests, never served) and data.json.
//
//go:embed *.rego data.json
var Bundle embed.FS
