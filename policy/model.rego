# The model gateway's decision: every chat completion, embedding and model listing asks
# data.agentos.model.decision, and so does every tool call a worker makes (operation
# "tool.call", see tool.rego). Per-tenant settings come from
# data.agentos.model_settings.tenants (keyed by tenant id) over
# data.agentos.model_settings.defaults:
#
#   models      glob patterns of the model names the tenant may use
#   tools       glob patterns of the tool (function) names the tenant may offer a model
#               and its workers may call
#   max_tokens  cap on a completion's max_tokens, applied as an obligation (0 = none)
package agentos.model

# settings are the tenant's settings merged over the defaults.
settings := object.union(defaults, tenant_settings)

default defaults := {}

defaults := data.agentos.model_settings.defaults

default tenant_settings := {}

tenant_settings := data.agentos.model_settings.tenants[input.tenant.id]

deny contains "unknown tenant" if not input.tenant.known

deny contains msg if {
	input.model != ""
	not model_allowed
	msg := sprintf("model %q is not allowed for tenant %q", [input.model, input.tenant.id])
}

deny contains msg if {
	some tool in input.tools
	not tool_allowed(tool)
	msg := sprintf("tool %q is not allowed for tenant %q", [tool, input.tenant.id])
}

model_allowed if {
	some pattern in object.get(settings, "models", [])
	glob.match(pattern, [], input.model)
}

tool_allowed(tool) if {
	some pattern in object.get(settings, "tools", [])
	glob.match(pattern, [], tool)
}

default obligations := {}

# A tool call's obligations are tool.rego's.
obligations := {"max_tokens": cap} if {
	input.operation != "tool.call"
	cap := object.get(settings, "max_tokens", 0)
	cap > 0
}

decision := {
	"allow": count(deny) == 0,
	"reasons": sort(deny),
	"obligations": obligations,
}
