package provider_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
)

func TestParseFileIsStrict(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		if name == "UP_KEY" {
			return "secret", true
		}
		return "", false
	}
	good := `
providers:
  - {name: vllm, type: openai, base_url: "http://vllm:8000/v1", api_key_env: UP_KEY}
  - {name: local, type: builtin, embedding_dimensions: 64}
defaults: {timeout: 30s, retries: 1}
models:
  - name: llama
    type: chat
    routing: least_busy
    deployments: [{provider: vllm, model: meta/llama, weight: 2, first_byte_timeout: 5s}]
    fallbacks: [local-chat]
  - {name: local-chat, type: chat, deployments: [{provider: local}]}
  - {name: emb, type: embedding, deployments: [{provider: local}]}
`
	f, err := provider.ParseFile([]byte(good), env)
	require.NoError(t, err)
	require.Len(t, f.Models, 3)

	cases := map[string]struct{ yaml, want string }{
		"unknown key":      {`providers: [{name: a, type: builtin, colour: red}]`, "field colour not found"},
		"unknown top key":  {"modells: []", "field modells not found"},
		"bad type":         {"providers: [{name: a, type: grpc}]\nmodels: [{name: m, type: chat, deployments: [{provider: a}]}]", `providers[0].type: must be openai or builtin, got "grpc"`},
		"bad url":          {"providers: [{name: a, type: openai, base_url: 'ftp://x'}]\nmodels: [{name: m, type: chat, deployments: [{provider: a}]}]", "providers[0].base_url"},
		"missing env":      {"providers: [{name: a, type: openai, base_url: 'http://x', api_key_env: NOPE}]\nmodels: [{name: m, type: chat, deployments: [{provider: a}]}]", "environment variable NOPE is not set"},
		"unknown provider": {"providers: [{name: a, type: builtin}]\nmodels: [{name: m, type: chat, deployments: [{provider: b}]}]", `unknown provider "b"`},
		"bad fallback":     {"providers: [{name: a, type: builtin}]\nmodels: [{name: m, type: chat, deployments: [{provider: a}], fallbacks: [e]}, {name: e, type: embedding, deployments: [{provider: a}]}]", `"e" is a embedding model`},
		"bad duration":     {"defaults: {timeout: soon}\nproviders: [{name: a, type: builtin}]\nmodels: [{name: m, type: chat, deployments: [{provider: a}]}]", "invalid duration"},
		"no models":        {"providers: [{name: a, type: builtin}]", "at least one model"},
		"duplicate model":  {"providers: [{name: a, type: builtin}]\nmodels: [{name: m, type: chat, deployments: [{provider: a}]}, {name: m, type: chat, deployments: [{provider: a}]}]", "duplicate model"},
		"empty":            {"", "empty"},
		"no deployments":   {"providers: [{name: a, type: builtin}]\nmodels: [{name: m, type: chat}]", "at least one is required"},
		"bad routing":      {"providers: [{name: a, type: builtin}]\nmodels: [{name: m, type: chat, routing: random, deployments: [{provider: a}]}]", "routing"},
	}
	for name, c := range cases {
		_, err := provider.ParseFile([]byte(c.yaml), env)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), c.want, name)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	f, err := provider.LoadFile("", nil)
	require.NoError(t, err)
	require.Equal(t, provider.DefaultFile(), f)

	_, err = provider.LoadFile(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	require.ErrorContains(t, err, "read model providers file")

	path := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(path, []byte("models: 3"), 0o644))
	_, err = provider.LoadFile(path, nil)
	require.ErrorContains(t, err, path)
}
