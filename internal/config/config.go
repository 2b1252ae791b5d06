// Package config loads the AgentOS configuration: documented defaults, then an optional
// agentos.yaml, then AGENTOS_* environment variables (the seed README's names), then
// command-line flags. Every setting is one field of Config with its YAML key, variable
// name, default and documentation in struct tags; docs/configuration.md and the JSON
// Schema of the file are generated from those tags.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Auth modes.
const (
	AuthModeDev = "dev"
	AuthModeJWT = "jwt"
)

// Config is the whole configuration of the agentos binary. The tags are the contract:
// `yaml` is the key in agentos.yaml, `env` the variable, `default` the documented default,
// `doc` the one-line description.
type Config struct {
	DataDir     string `yaml:"data_dir" env:"AGENTOS_DATA_DIR" default:"./data" doc:"Directory for the embedded SQLite database, the audit file and generated secrets."`
	DatabaseURL string `yaml:"database_url" env:"AGENTOS_DATABASE_URL" default:"" doc:"PostgreSQL URL (postgres://…); empty means the embedded SQLite database <data_dir>/agentos.db."`

	ModelPolicyURL   string `yaml:"modelpolicy_url" env:"AGENTOS_MODELPOLICY_URL" default:"" doc:"Model Policy base URL the orchestrator uses for memory embeddings when Model Policy runs in another process (empty: the one in this process, if any)."`
	OrchestratorAddr string `yaml:"orchestrator_addr" env:"AGENTOS_ORCHESTRATOR_ADDR" default:"127.0.0.1:50081" doc:"Listen address of the Agent Orchestrator."`
	ModelPolicyAddr  string `yaml:"modelpolicy_addr" env:"AGENTOS_MODELPOLICY_ADDR" default:"127.0.0.1:50082" doc:"Listen address of Model Policy."`
	FederationAddr   string `yaml:"federation_addr" env:"AGENTOS_FEDERATION_ADDR" default:"127.0.0.1:50083" doc:"Listen address of Federation."`

	MaxBodyBytes    int64         `yaml:"max_body_bytes" env:"AGENTOS_MAX_BODY_BYTES" default:"1048576" doc:"Largest accepted request body in bytes; larger bodies get a 413 problem."`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" env:"AGENTOS_SHUTDOWN_TIMEOUT" default:"15s" doc:"How long SIGTERM/SIGINT waits for in-flight requests to drain."`
	LogLevel        string        `yaml:"log_level" env:"AGENTOS_LOG_LEVEL" default:"info" doc:"debug, info, warn or error."`
	PprofAddr       string        `yaml:"pprof_addr" env:"AGENTOS_PPROF_ADDR" default:"" doc:"Listen address of Go's net/http/pprof profiling endpoints (empty = off; never expose it publicly)."`
	LogFormat       string        `yaml:"log_format" env:"AGENTOS_LOG_FORMAT" default:"json" doc:"json or text."`

	SeedDemoAgent bool   `yaml:"seed_demo_agent" env:"AGENTOS_SEED_DEMO_AGENT" default:"true" doc:"Create the example agent demo in the default tenant on first start (flag --no-demo-agent turns it off)."`
	DefaultTenant string `yaml:"default_tenant" env:"AGENTOS_DEFAULT_TENANT" default:"tnt_demo" doc:"Tenant seeded at start."`
	AuditSink     string `yaml:"audit_sink" env:"AGENTOS_AUDIT_SINK" default:"file:<data_dir>/audit/audit.log" doc:"Where audit records are written besides the database: stdout, stderr, file:PATH or none."`

	AuthMode   string `yaml:"auth_mode" env:"AGENTOS_AUTH_MODE" default:"dev" doc:"dev (tenant from X-Tenant-Id) or jwt (tenant and principal from a verified JWT)."`
	AdminToken string `yaml:"admin_token" env:"AGENTOS_ADMIN_TOKEN" default:"" doc:"Bearer token for the tenant admin API; empty means one is generated into <data_dir>/admin-token on first start."`

	JWTPublicKeyFile string        `yaml:"jwt_public_key_file" env:"AGENTOS_JWT_PUBLIC_KEY_FILE" default:"" doc:"PEM file with one or more public keys (RSA, ECDSA P-256, Ed25519) that verify JWTs."`
	JWTJWKSURL       string        `yaml:"jwt_jwks_url" env:"AGENTOS_JWT_JWKS_URL" default:"" doc:"JWKS URL whose keys verify JWTs (refreshed every jwt_jwks_refresh and on an unknown kid)."`
	JWTJWKSRefresh   time.Duration `yaml:"jwt_jwks_refresh" env:"AGENTOS_JWT_JWKS_REFRESH" default:"5m" doc:"How often the JWKS is refetched."`
	JWTAlgorithms    []string      `yaml:"jwt_algorithms" env:"AGENTOS_JWT_ALGORITHMS" default:"RS256,ES256,EdDSA" doc:"Accepted JWT signing algorithms (subset of RS256, RS384, RS512, PS256, ES256, ES384, EdDSA)."`
	JWTAudience      string        `yaml:"jwt_audience" env:"AGENTOS_JWT_AUDIENCE" default:"agentos" doc:"Required aud claim."`
	JWTIssuer        string        `yaml:"jwt_issuer" env:"AGENTOS_JWT_ISSUER" default:"" doc:"Required iss claim (must be set in jwt mode)."`
	JWTLeeway        time.Duration `yaml:"jwt_leeway" env:"AGENTOS_JWT_LEEWAY" default:"30s" doc:"Clock skew allowed when checking exp and nbf."`
	JWTRolesClaim    string        `yaml:"jwt_roles_claim" env:"AGENTOS_JWT_ROLES_CLAIM" default:"roles" doc:"Claim holding the principal's roles (array of strings or space-separated string)."`
	JWTAdminRole     string        `yaml:"jwt_admin_role" env:"AGENTOS_JWT_ADMIN_ROLE" default:"agentos:admin" doc:"Role that grants the tenant admin API in jwt mode."`

	WorkerToken    string        `yaml:"worker_token" env:"AGENTOS_WORKER_TOKEN" default:"" doc:"Bearer token workers use for the lease protocol; empty means one is generated into <data_dir>/worker-token on first start."`
	RunTokenKey    string        `yaml:"run_token_key" env:"AGENTOS_RUN_TOKEN_KEY" default:"" doc:"Secret (at least 32 characters) that signs the run tokens the orchestrator gives workers for Model Policy and memory calls; the orchestrator and Model Policy need the same one, workers none. Empty means one is generated into <data_dir>/run-token-key on first start."`
	Workers        int           `yaml:"workers" env:"AGENTOS_WORKERS" default:"0" doc:"Embedded workers agentos serve runs, each executing up to 4 runs at once (0 = none; flag --workers). They need the orchestrator and Model Policy in the same process."`
	LeaseTTL       time.Duration `yaml:"lease_ttl" env:"AGENTOS_LEASE_TTL" default:"30s" doc:"How long a run lease lasts without a heartbeat before the run is requeued."`
	RunMaxAttempts int           `yaml:"run_max_attempts" env:"AGENTOS_RUN_MAX_ATTEMPTS" default:"3" doc:"Leases a run may use before a lapsed lease fails it."`
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl" env:"AGENTOS_IDEMPOTENCY_TTL" default:"24h" doc:"How long Idempotency-Key answers are kept."`
	SSEKeepalive   time.Duration `yaml:"sse_keepalive" env:"AGENTOS_SSE_KEEPALIVE" default:"15s" doc:"Interval of keepalive comments on event streams."`
	SweepInterval  time.Duration `yaml:"sweep_interval" env:"AGENTOS_SWEEP_INTERVAL" default:"1s" doc:"How often lapsed leases, passed deadlines and expired idempotency keys are swept."`

	QuotaRunCreateQPS    int   `yaml:"quota_run_create_qps" env:"AGENTOS_QUOTA_RUN_CREATE_QPS" default:"10" doc:"Runs a tenant may create per second (0 = unlimited; per-tenant override through the admin API)."`
	QuotaConcurrentRuns  int   `yaml:"quota_concurrent_runs" env:"AGENTOS_QUOTA_CONCURRENT_RUNS" default:"25" doc:"Non-terminal runs a tenant may have at once (0 = unlimited)."`
	QuotaInvokeQPS       int   `yaml:"quota_invoke_qps" env:"AGENTOS_QUOTA_INVOKE_QPS" default:"20" doc:"Model invocations a tenant may make per second (per-tenant override through the admin API; 0 means unlimited)."`
	QuotaTokensPerMinute int64 `yaml:"quota_tokens_per_minute" env:"AGENTOS_QUOTA_TOKENS_PER_MINUTE" default:"100000" doc:"Model tokens a tenant may use per minute (per-tenant override through the admin API; 0 means unlimited)."`

	ModelProvidersFile string `yaml:"model_providers_file" env:"AGENTOS_MODEL_PROVIDERS_FILE" default:"" doc:"YAML file of model providers, models and routing (docs/model-providers.md); empty means only the builtin models."`
	PolicyDir          string `yaml:"policy_dir" env:"AGENTOS_POLICY_DIR" default:"" doc:"Directory of Rego policies and data, hot-reloaded; empty means the embedded bundle in policy/."`
}

// File is the shape of agentos.yaml: every Config key, all optional. It exists so the
// JSON Schema of the file can be generated from Go types.
type File = Config

// Field describes one setting, for documentation and error messages.
type Field struct {
	YAML    string
	Env     string
	Default string
	Doc     string
	Type    string
}

// Fields lists every setting in declaration order.
func Fields() []Field {
	t := reflect.TypeFor[Config]()
	out := make([]Field, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, Field{
			YAML:    f.Tag.Get("yaml"),
			Env:     f.Tag.Get("env"),
			Default: f.Tag.Get("default"),
			Doc:     f.Tag.Get("doc"),
			Type:    typeName(f.Type),
		})
	}
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "integer"
	default:
		return "string"
	}
}

// Defaults returns a Config with every documented default applied.
func Defaults() Config {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		def := t.Field(i).Tag.Get("default")
		if def == "" || strings.Contains(def, "<") {
			continue // derived defaults are resolved in Validate
		}
		if err := setValue(v.Field(i), def); err != nil {
			panic(fmt.Sprintf("config: bad default for %s: %v", t.Field(i).Name, err))
		}
	}
	return c
}

// Load builds the configuration: defaults, then the YAML file at path (when path is not
// empty; a missing file is an error only when required), then the environment. It does
// not validate; call Validate after applying flags.
func Load(path string, required bool, environ []string) (Config, error) {
	c := Defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := c.applyYAML(path, data); err != nil {
				return Config{}, err
			}
		case errors.Is(err, os.ErrNotExist) && !required:
		default:
			return Config{}, fmt.Errorf("read config file: %w", err)
		}
	}
	if err := c.applyEnv(environ); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) applyYAML(path string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: top level must be a mapping of settings", path)
	}
	v := reflect.ValueOf(c).Elem()
	byKey := fieldIndex("yaml")
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		idx, ok := byKey[key]
		if !ok {
			return fmt.Errorf("%s:%d: unknown key %q", path, root.Content[i].Line, key)
		}
		raw, err := scalarOrList(val)
		if err != nil {
			return fmt.Errorf("%s:%d: key %q: %w", path, val.Line, key, err)
		}
		if err := setValue(v.Field(idx), raw); err != nil {
			return fmt.Errorf("%s:%d: key %q: %w", path, val.Line, key, err)
		}
	}
	return nil
}

func scalarOrList(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return "", errors.New("list items must be scalars")
			}
			parts = append(parts, item.Value)
		}
		return strings.Join(parts, ","), nil
	default:
		return "", errors.New("must be a scalar or a list")
	}
}

func (c *Config) applyEnv(environ []string) error {
	v := reflect.ValueOf(c).Elem()
	byEnv := fieldIndex("env")
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		idx, known := byEnv[name]
		if !known {
			continue
		}
		if err := setValue(v.Field(idx), value); err != nil {
			return fmt.Errorf("environment variable %s: %w", name, err)
		}
	}
	return nil
}

// UnknownEnv returns AGENTOS_* variables in environ that name no setting (likely typos).
func UnknownEnv(environ []string) []string {
	byEnv := fieldIndex("env")
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "AGENTOS_") || slices.Contains(nonSettingEnv, name) {
			continue
		}
		if _, ok := byEnv[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// nonSettingEnv are AGENTOS_* variables read by tools rather than by the server.
var nonSettingEnv = []string{"AGENTOS_CONFIG", "AGENTOS_TARGET", "AGENTOS_ORCHESTRATOR_URL", "AGENTOS_FEDERATION_URL", "AGENTOS_TENANT", "AGENTOS_TOKEN"}

func fieldIndex(tag string) map[string]int {
	t := reflect.TypeFor[Config]()
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		m[t.Field(i).Tag.Get(tag)] = i
	}
	return m
}

func setValue(f reflect.Value, raw string) error {
	switch {
	case f.Type() == reflect.TypeFor[time.Duration]():
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m)", raw)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(raw)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("invalid boolean %q", raw)
		}
		f.SetBool(b)
	case f.Kind() >= reflect.Int && f.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", raw)
		}
		f.SetInt(n)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var items []string
		for p := range strings.SplitSeq(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		f.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported setting type %s", f.Type())
	}
	return nil
}

// Set assigns one setting by its YAML key, as flags do.
func (c *Config) Set(key, raw string) error {
	idx, ok := fieldIndex("yaml")[key]
	if !ok {
		return fmt.Errorf("unknown setting %q", key)
	}
	return setValue(reflect.ValueOf(c).Elem().Field(idx), raw)
}

var jwtAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Validate checks every setting, resolves derived defaults, and names the first bad one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", key, envOf(key), fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.DatabaseURL != "" && !hasAnyPrefix(c.DatabaseURL, "postgres://", "postgresql://", "sqlite:", "file:") {
		bad("database_url", "unsupported scheme in %q (use postgres://, sqlite: or file:)", redactURL(c.DatabaseURL))
	}
	for key, addr := range map[string]string{"orchestrator_addr": c.OrchestratorAddr, "modelpolicy_addr": c.ModelPolicyAddr, "federation_addr": c.FederationAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "invalid listen address %q: %v", addr, err)
		}
	}
	if c.MaxBodyBytes <= 0 {
		bad("max_body_bytes", "must be positive, got %d", c.MaxBodyBytes)
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if !slices.Contains([]string{"json", "text"}, c.LogFormat) {
		bad("log_format", "must be json or text, got %q", c.LogFormat)
	}
	if !ValidTenantID(c.DefaultTenant) {
		bad("default_tenant", "invalid tenant id %q (lower-case letters, digits, _ and -, 2-63 characters)", c.DefaultTenant)
	}
	if c.AuditSink == "" {
		c.AuditSink = "file:" + strings.TrimSuffix(c.DataDir, "/") + "/audit/audit.log"
	} else if !(c.AuditSink == "stdout" || c.AuditSink == "stderr" || c.AuditSink == "none" || (strings.HasPrefix(c.AuditSink, "file:") && len(c.AuditSink) > len("file:"))) {
		bad("audit_sink", "must be stdout, stderr, none or file:PATH, got %q", c.AuditSink)
	}
	switch c.AuthMode {
	case AuthModeDev:
	case AuthModeJWT:
		if c.JWTPublicKeyFile == "" && c.JWTJWKSURL == "" {
			bad("auth_mode", "jwt mode needs jwt_public_key_file or jwt_jwks_url")
		}
		if c.JWTIssuer == "" {
			bad("jwt_issuer", "must be set in jwt mode")
		}
		if c.JWTAudience == "" {
			bad("jwt_audience", "must be set in jwt mode")
		}
	default:
		bad("auth_mode", "must be dev or jwt, got %q", c.AuthMode)
	}
	if len(c.JWTAlgorithms) == 0 {
		bad("jwt_algorithms", "must list at least one algorithm")
	}
	for _, a := range c.JWTAlgorithms {
		if !slices.Contains(jwtAlgorithms, a) {
			bad("jwt_algorithms", "unsupported algorithm %q (allowed: %s; HS* and none are never accepted)", a, strings.Join(jwtAlgorithms, ", "))
		}
	}
	if c.JWTJWKSRefresh <= 0 {
		bad("jwt_jwks_refresh", "must be positive")
	}
	if c.JWTLeeway < 0 || c.JWTLeeway > 5*time.Minute {
		bad("jwt_leeway", "must be between 0 and 5m")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		bad("admin_token", "must be at least 16 characters")
	}
	if c.WorkerToken != "" && len(c.WorkerToken) < 16 {
		bad("worker_token", "must be at least 16 characters")
	}
	if c.RunTokenKey != "" && len(c.RunTokenKey) < 32 {
		bad("run_token_key", "must be at least 32 characters")
	}
	if c.Workers < 0 || c.Workers > 1024 {
		bad("workers", "must be between 0 and 1024, got %d", c.Workers)
	}
	if c.LeaseTTL < time.Second || c.LeaseTTL > time.Hour {
		bad("lease_ttl", "must be between 1s and 1h, got %s", c.LeaseTTL)
	}
	if c.RunMaxAttempts < 1 || c.RunMaxAttempts > 100 {
		bad("run_max_attempts", "must be between 1 and 100, got %d", c.RunMaxAttempts)
	}
	if c.IdempotencyTTL < time.Minute {
		bad("idempotency_ttl", "must be at least 1m, got %s", c.IdempotencyTTL)
	}
	if c.SSEKeepalive < 100*time.Millisecond {
		bad("sse_keepalive", "must be at least 100ms, got %s", c.SSEKeepalive)
	}
	if c.SweepInterval < 10*time.Millisecond || c.SweepInterval > time.Minute {
		bad("sweep_interval", "must be between 10ms and 1m, got %s", c.SweepInterval)
	}
	for key, n := range map[string]int64{"quota_run_create_qps": int64(c.QuotaRunCreateQPS), "quota_concurrent_runs": int64(c.QuotaConcurrentRuns), "quota_invoke_qps": int64(c.QuotaInvokeQPS), "quota_tokens_per_minute": c.QuotaTokensPerMinute} {
		if n < 0 {
			bad(key, "must not be negative, got %d", n)
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func envOf(key string) string {
	idx, ok := fieldIndex("yaml")[key]
	if !ok {
		return key
	}
	return reflect.TypeFor[Config]().Field(idx).Tag.Get("env")
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// redactURL hides a password in a database URL.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return s
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return s
}

// ValidTenantID reports whether id is a well-formed tenant id.
func ValidTenantID(id string) bool {
	if len(id) < 2 || len(id) > 63 {
		return false
	}
	for i, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
