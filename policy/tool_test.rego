package agentos.model_test

import data.agentos.model

call(name, url) := {
	"tenant": {"id": "tnt_a", "known": true, "labels": {}},
	"principal": {"id": "worker", "roles": [], "auth": "dev"},
	"operation": "tool.call",
	"model": "",
	"tools": [name],
	"estimated_tokens": 0,
	"max_tokens": 0,
	"stream": false,
	"tool": {"name": name, "type": "builtin", "server": "", "url": url, "scheme": scheme(url), "host": host(url), "port": 0},
	"run_id": "run_1",
	"agent_id": "agent",
}

scheme(url) := s if {
	parts := split(url, "://")
	count(parts) > 1
	s := parts[0]
} else := ""

host(url) := h if {
	parts := split(url, "://")
	count(parts) > 1
	h := split(split(parts[1], "/")[0], ":")[0]
} else := ""

fetching := {
	"defaults": {"models": ["*"], "tools": ["*"], "max_tokens": 4096, "http_hosts": []},
	"tenants": {
		"tnt_a": {"http_hosts": ["example.com", "*.example.org", "**.internal.test"], "http_max_bytes": 2048},
		"tnt_b": {"tools": ["memory_*"], "http_hosts": ["**"]},
		"tnt_c": {"http_hosts": ["127.0.0.1"], "http_allow_internal": true, "http_timeout_ms": 500},
		"tnt_d": {"http_hosts": ["**"]},
	},
}

as_tenant(doc, id) := object.union(doc, {"tenant": {"id": id, "known": true, "labels": {}}})

test_tool_call_of_an_allowed_tool_has_no_obligations if {
	d := model.decision with input as call("calculator", "")
	d.allow
	d.reasons == []
	d.obligations == {}
}

test_tool_call_obeys_the_tool_allowlist if {
	d := model.decision with input as as_tenant(call("shell", ""), "tnt_b") with data.agentos.model_settings as fetching
	not d.allow
	d.reasons == [`tool "shell" is not allowed for tenant "tnt_b"`]
	ok := model.decision with input as as_tenant(call("memory_get", ""), "tnt_b") with data.agentos.model_settings as fetching
	ok.allow
}

test_tool_call_of_an_unknown_tenant_is_denied if {
	d := model.decision with input as object.union(call("calculator", ""), {"tenant": {"id": "ghost", "known": false, "labels": {}}})
	not d.allow
	d.reasons == ["unknown tenant"]
}

test_http_fetch_is_refused_by_default if {
	d := model.decision with input as call("http_fetch", "https://example.com/")
	not d.allow
	d.reasons == [`host "example.com" is not allowed for http_fetch for tenant "tnt_a"`]
}

test_http_fetch_host_allowlist if {
	allowed := [
		"https://example.com/a",
		"http://api.example.org/x",
		"https://a.b.c.internal.test/",
	]
	every url in allowed {
		d := model.decision with input as call("http_fetch", url) with data.agentos.model_settings as fetching
		d.allow
	}
	denied := [
		"https://www.example.com/",
		"https://a.b.example.org/",
		"https://example.org/",
		"https://example.com.evil.test/",
		"https://internal.test/",
		"https://127.0.0.1/",
	]
	every url in denied {
		d := model.decision with input as call("http_fetch", url) with data.agentos.model_settings as fetching
		not d.allow
	}
}

test_http_fetch_obligations_have_defaults_and_tenant_overrides if {
	a := model.decision with input as call("http_fetch", "https://example.com/") with data.agentos.model_settings as fetching
	a.obligations == {"allow_internal": false, "max_bytes": 2048, "timeout_ms": 10000}
	c := model.decision with input as as_tenant(call("http_fetch", "http://127.0.0.1:8080/"), "tnt_c") with data.agentos.model_settings as fetching
	c.allow
	c.obligations == {"allow_internal": true, "max_bytes": 1048576, "timeout_ms": 500}
}

test_http_fetch_embedded_defaults if {
	d := model.decision with input as call("http_fetch", "https://example.com/") with data.agentos.model_settings.tenants as {"tnt_a": {"http_hosts": ["example.com"]}}
	d.allow
	d.obligations == {"allow_internal": false, "max_bytes": 1048576, "timeout_ms": 10000}
}

test_http_fetch_needs_an_http_url_with_a_host if {
	ftp := model.decision with input as as_tenant(call("http_fetch", "ftp://example.com/"), "tnt_d") with data.agentos.model_settings as fetching
	not ftp.allow
	ftp.reasons == [`http_fetch needs an http or https URL, not "ftp://example.com/"`]
	none := model.decision with input as as_tenant(call("http_fetch", ""), "tnt_d") with data.agentos.model_settings as fetching
	not none.allow
	any := model.decision with input as as_tenant(call("http_fetch", "https://anything.example.net:8443/"), "tnt_d") with data.agentos.model_settings as fetching
	any.allow
	hostless := model.decision with input as as_tenant(call("http_fetch", "http:///x"), "tnt_d") with data.agentos.model_settings as fetching
	hostless.reasons == [`http_fetch needs a URL with a host, not "http:///x"`]
}

test_a_tool_call_needs_a_name if {
	d := model.decision with input as call("", "")
	not d.allow
	"a tool call needs the tool's name" in d.reasons
}

test_chat_obligations_are_unchanged_by_tool_settings if {
	d := model.decision with input as base with data.agentos.model_settings as fetching
	d.obligations == {"max_tokens": 4096}
}
