package provider

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the model providers file (AGENTOS_MODEL_PROVIDERS_FILE), decoded strictly:
// an unknown key is an error naming it. See docs/model-providers.md.
type File struct {
	// Providers are the upstream servers.
	Providers []ProviderConfig `yaml:"providers"`
	// Defaults apply to every deployment that does not set its own.
	Defaults Defaults `yaml:"defaults"`
	// Models are the names clients use, each served by one or more deployments.
	Models []ModelConfig `yaml:"models"`
}

// ProviderConfig is one upstream server.
type ProviderConfig struct {
	Name string `yaml:"name"`
	// Type is "openai" or "builtin".
	Type string `yaml:"type"`
	// BaseURL is the API root of an openai provider, e.g. http://vllm:8000/v1.
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the upstream's API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// Headers are sent with every request to the upstream.
	Headers map[string]string `yaml:"headers"`
	// EmbeddingDimensions is the builtin provider's embedding size (default 256).
	EmbeddingDimensions int `yaml:"embedding_dimensions"`
}

// Defaults are attempt settings; each deployment and model may override them.
type Defaults struct {
	// Timeout bounds one non-streaming attempt (default 60s).
	Timeout Duration `yaml:"timeout"`
	// FirstByteTimeout bounds the wait for a stream's first event (default 15s).
	FirstByteTimeout Duration `yaml:"first_byte_timeout"`
	// IdleTimeout bounds the wait between two events of a stream (default 60s).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// Retries is the number of attempts after the first, per model (default 2).
	Retries *int `yaml:"retries"`
	// Backoff is the first retry delay, doubled per retry with full jitter (default 100ms),
	// up to MaxBackoff (default 2s).
	Backoff    Duration `yaml:"backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
	// BreakerFailures opens a deployment's circuit after that many failures in a row
	// (default 5; 0 disables the breaker) for BreakerCooldown (default 30s).
	BreakerFailures *int     `yaml:"breaker_failures"`
	BreakerCooldown Duration `yaml:"breaker_cooldown"`
}

// ModelConfig is one model name clients use.
type ModelConfig struct {
	Name string `yaml:"name"`
	// Type is "chat" or "embedding".
	Type string `yaml:"type"`
	// Routing picks a deployment: "weighted" (random by weight, the default) or
	// "least_busy" (fewest calls in flight relative to weight).
	Routing string `yaml:"routing"`
	// Deployments serve the model.
	Deployments []DeploymentConfig `yaml:"deployments"`
	// Fallbacks are other models (of the same type) tried in order when every attempt
	// on this one failed; their own fallbacks are not followed.
	Fallbacks []string `yaml:"fallbacks"`
	// Retries overrides defaults.retries for this model.
	Retries *int `yaml:"retries"`
	// OwnedBy is shown in GET /v1/models (default the first deployment's provider).
	OwnedBy string `yaml:"owned_by"`
}

// DeploymentConfig is a model on one provider.
type DeploymentConfig struct {
	Provider string `yaml:"provider"`
	// Model is the upstream's name for the model (default: the model's name).
	Model string `yaml:"model"`
	// Weight for weighted routing (default 1).
	Weight int `yaml:"weight"`

	Timeout          Duration `yaml:"timeout"`
	FirstByteTimeout Duration `yaml:"first_byte_timeout"`
	IdleTimeout      Duration `yaml:"idle_timeout"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: invalid duration %q (use e.g. 500ms, 30s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Model types.
const (
	TypeChat      = "chat"
	TypeEmbedding = "embedding"
)

// DefaultFile is the configuration without a providers file: the builtin provider
// serving builtin-chat and builtin-embedding.
func DefaultFile() File {
	return File{
		Providers: []ProviderConfig{{Name: "builtin", Type: "builtin"}},
		Models: []ModelConfig{
			{Name: "builtin-chat", Type: TypeChat, Deployments: []DeploymentConfig{{Provider: "builtin"}}},
			{Name: "builtin-embedding", Type: TypeEmbedding, Deployments: []DeploymentConfig{{Provider: "builtin"}}},
		},
	}
}

// LoadFile reads and validates a providers file; path "" means DefaultFile. lookupEnv
// resolves api_key_env (nil: no variables).
func LoadFile(path string, lookupEnv func(string) (string, bool)) (File, error) {
	if path == "" {
		return DefaultFile(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("read model providers file: %w", err)
	}
	f, err := ParseFile(data, lookupEnv)
	if err != nil {
		return File{}, fmt.Errorf("model providers file %s: %w", path, err)
	}
	return f, nil
}

// ParseFile decodes and validates a providers file.
func ParseFile(data []byte, lookupEnv func(string) (string, bool)) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return File{}, errors.New("the file is empty")
		}
		return File{}, fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n  ", ""))
	}
	if err := f.validate(lookupEnv); err != nil {
		return File{}, err
	}
	return f, nil
}

func (f *File) validate(lookupEnv func(string) (string, bool)) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	providers := map[string]ProviderConfig{}
	for i, p := range f.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		if p.Name == "" {
			bad("%s.name: required", at)
		} else if _, dup := providers[p.Name]; dup {
			bad("%s.name: duplicate provider %q", at, p.Name)
		}
		providers[p.Name] = p
		switch p.Type {
		case "openai":
			u, err := url.Parse(p.BaseURL)
			if p.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("%s.base_url: must be an http(s) URL, got %q", at, p.BaseURL)
			}
			if p.APIKeyEnv != "" {
				if lookupEnv == nil {
					lookupEnv = func(string) (string, bool) { return "", false }
				}
				if v, ok := lookupEnv(p.APIKeyEnv); !ok || v == "" {
					bad("%s.api_key_env: environment variable %s is not set", at, p.APIKeyEnv)
				}
			}
			if p.EmbeddingDimensions != 0 {
				bad("%s.embedding_dimensions: only for builtin providers", at)
			}
		case "builtin":
			if p.BaseURL != "" || p.APIKeyEnv != "" || len(p.Headers) > 0 {
				bad("%s: a builtin provider takes no base_url, api_key_env or headers", at)
			}
			if p.EmbeddingDimensions < 0 || p.EmbeddingDimensions > MaxEmbeddingDimensions {
				bad("%s.embedding_dimensions: must be between 1 and %d", at, MaxEmbeddingDimensions)
			}
		default:
			bad("%s.type: must be openai or builtin, got %q", at, p.Type)
		}
	}
	if f.Defaults.Retries != nil && (*f.Defaults.Retries < 0 || *f.Defaults.Retries > 10) {
		bad("defaults.retries: must be between 0 and 10")
	}
	if f.Defaults.BreakerFailures != nil && *f.Defaults.BreakerFailures < 0 {
		bad("defaults.breaker_failures: must not be negative")
	}
	models := map[string]ModelConfig{}
	for i, m := range f.Models {
		at := fmt.Sprintf("models[%d]", i)
		if m.Name == "" {
			bad("%s.name: required", at)
		} else if _, dup := models[m.Name]; dup {
			bad("%s.name: duplicate model %q", at, m.Name)
		}
		models[m.Name] = m
		if m.Type != TypeChat && m.Type != TypeEmbedding {
			bad("%s.type: must be chat or embedding, got %q", at, m.Type)
		}
		if m.Routing != "" && m.Routing != "weighted" && m.Routing != "least_busy" {
			bad("%s.routing: must be weighted or least_busy, got %q", at, m.Routing)
		}
		if m.Retries != nil && (*m.Retries < 0 || *m.Retries > 10) {
			bad("%s.retries: must be between 0 and 10", at)
		}
		if len(m.Deployments) == 0 {
			bad("%s.deployments: at least one is required", at)
		}
		for j, d := range m.Deployments {
			dat := fmt.Sprintf("%s.deployments[%d]", at, j)
			if _, ok := providers[d.Provider]; !ok {
				bad("%s.provider: unknown provider %q", dat, d.Provider)
			}
			if d.Weight < 0 {
				bad("%s.weight: must not be negative", dat)
			}
		}
	}
	for i, m := range f.Models {
		for _, fb := range m.Fallbacks {
			other, ok := models[fb]
			switch {
			case !ok:
				bad("models[%d].fallbacks: unknown model %q", i, fb)
			case fb == m.Name:
				bad("models[%d].fallbacks: a model cannot fall back to itself", i)
			case other.Type != m.Type:
				bad("models[%d].fallbacks: %q is a %s model, not %s", i, fb, other.Type, m.Type)
			}
		}
	}
	if len(f.Models) == 0 {
		bad("models: at least one model is required")
	}
	return errors.Join(errs...)
}
