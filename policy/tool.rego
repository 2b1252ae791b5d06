# Tool calls: a worker asks about every tool call of a run (POST /v1/tools:authorize),
# with operation "tool.call", input.tools = [input.tool.name] (so the tenant's `tools`
# globs in model.rego decide which tools may run at all) and input.tool = {name, type,
# server, url, scheme, host, port}. For http_fetch the tenant's settings (see model.rego
# for how they merge) also say where it may go and how much it may read:
#
#   http_hosts           glob patterns of the hosts http_fetch may request, with "." as
#                        the delimiter ("*.example.com" is one label deep,
#                        "**.example.com" any depth, "**" every host). Default []: no
#                        host, so http_fetch is refused until a tenant is configured.
#   http_allow_internal  obligation allow_internal: whether the fetch may reach loopback,
#                        private, link-local and other internal addresses (the worker
#                        checks the address it dials). Default false.
#   http_max_bytes       obligation max_bytes: the most response body bytes read.
#                        Default 1048576 (1 MiB).
#   http_timeout_ms      obligation timeout_ms: the time limit of one fetch, redirects
#                        included. Default 10000.
package agentos.model

tool_call if input.operation == "tool.call"

http_fetch_call if {
	tool_call
	input.tool.name == "http_fetch"
}

deny contains "a tool call needs the tool's name" if {
	tool_call
	input.tool.name == ""
}

deny contains msg if {
	http_fetch_call
	not input.tool.scheme in {"http", "https"}
	msg := sprintf("http_fetch needs an http or https URL, not %q", [input.tool.url])
}

deny contains msg if {
	http_fetch_call
	input.tool.scheme in {"http", "https"}
	input.tool.host == ""
	msg := sprintf("http_fetch needs a URL with a host, not %q", [input.tool.url])
}

deny contains msg if {
	http_fetch_call
	input.tool.scheme in {"http", "https"}
	input.tool.host != ""
	not http_host_allowed
	msg := sprintf("host %q is not allowed for http_fetch for tenant %q", [input.tool.host, input.tenant.id])
}

http_host_allowed if {
	some pattern in object.get(settings, "http_hosts", [])
	glob.match(pattern, [], input.tool.host)
}

obligations := tool_obligations if tool_call

default tool_obligations := {}

tool_obligations := {
	"allow_internal": object.get(settings, "http_allow_internal", false) == true,
	"max_bytes": object.get(settings, "http_max_bytes", 1048576),
	"timeout_ms": object.get(settings, "http_timeout_ms", 10000),
} if http_fetch_call
