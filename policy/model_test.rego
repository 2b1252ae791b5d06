package agentos.model_test

import data.agentos.model

base := {
	"tenant": {"id": "tnt_a", "known": true, "labels": {}},
	"principal": {"id": "alice", "roles": [], "auth": "dev"},
	"operation": "chat.completions",
	"model": "builtin-chat",
	"tools": [],
	"estimated_tokens": 10,
	"max_tokens": 0,
	"stream": false,
}

restricted := {
	"defaults": {"models": ["builtin-*"], "tools": ["memory_*"], "max_tokens": 1000},
	"tenants": {"tnt_b": {"models": ["gpt-4o-mini"], "tools": [], "max_tokens": 50}},
}

test_allows_by_default if {
	d := model.decision with input as base
	d.allow
	d.reasons == []
	d.obligations == {"max_tokens": 4096}
}

test_unknown_tenant_is_denied if {
	d := model.decision with input as object.union(base, {"tenant": {"id": "tnt_x", "known": false, "labels": {}}})
	not d.allow
	d.reasons == ["unknown tenant"]
}

test_model_allowlist if {
	d := model.decision with input as object.union(base, {"model": "gpt-4o"}) with data.agentos.model_settings as restricted
	not d.allow
	d.reasons == [`model "gpt-4o" is not allowed for tenant "tnt_a"`]
	ok := model.decision with input as object.union(base, {"model": "builtin-embedding"}) with data.agentos.model_settings as restricted
	ok.allow
}

test_per_tenant_settings_replace_defaults if {
	input_b := object.union(base, {"tenant": {"id": "tnt_b", "known": true, "labels": {}}})
	denied := model.decision with input as input_b with data.agentos.model_settings as restricted
	not denied.allow
	allowed := model.decision with input as object.union(input_b, {"model": "gpt-4o-mini"}) with data.agentos.model_settings as restricted
	allowed.allow
	allowed.obligations == {"max_tokens": 50}
}

test_tool_allowlist if {
	d := model.decision with input as object.union(base, {"tools": ["memory_get", "http_fetch"]}) with data.agentos.model_settings as restricted
	not d.allow
	d.reasons == [`tool "http_fetch" is not allowed for tenant "tnt_a"`]
	ok := model.decision with input as object.union(base, {"tools": ["memory_get"]}) with data.agentos.model_settings as restricted
	ok.allow
}

test_reasons_are_sorted_and_all_reported if {
	d := model.decision with input as object.union(base, {"model": "x", "tools": ["b", "a"], "tenant": {"id": "tnt_a", "known": false, "labels": {}}}) with data.agentos.model_settings as restricted
	d.reasons == [
		`model "x" is not allowed for tenant "tnt_a"`,
		`tool "a" is not allowed for tenant "tnt_a"`,
		`tool "b" is not allowed for tenant "tnt_a"`,
		"unknown tenant",
	]
}

test_no_cap_means_no_obligation if {
	d := model.decision with input as base with data.agentos.model_settings.defaults.max_tokens as 0
	d.obligations == {}
}

test_model_listing_without_model_is_allowed if {
	d := model.decision with input as object.union(base, {"model": "", "operation": "models.list"})
	d.allow
}
