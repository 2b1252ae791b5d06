package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/config"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agentos.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestDefaultsValidate(t *testing.T) {
	t.Parallel()
	c, err := config.Load("", false, nil)
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, "tnt_demo", c.DefaultTenant)
	require.Equal(t, "127.0.0.1:50081", c.OrchestratorAddr)
	require.Equal(t, "127.0.0.1:50082", c.ModelPolicyAddr)
	require.Equal(t, "127.0.0.1:50083", c.FederationAddr)
	require.Equal(t, 10, c.QuotaRunCreateQPS)
	require.Equal(t, 25, c.QuotaConcurrentRuns)
	require.Equal(t, 20, c.QuotaInvokeQPS)
	require.Equal(t, "file:./data/audit/audit.log", c.AuditSink)
	require.Equal(t, []string{"RS256", "ES256", "EdDSA"}, c.JWTAlgorithms)
	require.Equal(t, 15*time.Second, c.ShutdownTimeout)
}

func TestPrecedenceFileThenEnv(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "default_tenant: tnt_file\nquota_run_create_qps: 3\njwt_algorithms: [ES256, EdDSA]\nshutdown_timeout: 2s\n")
	c, err := config.Load(path, true, []string{"AGENTOS_QUOTA_RUN_CREATE_QPS=7", "UNRELATED=1"})
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, "tnt_file", c.DefaultTenant)
	require.Equal(t, 7, c.QuotaRunCreateQPS, "env wins over the file")
	require.Equal(t, []string{"ES256", "EdDSA"}, c.JWTAlgorithms)
	require.Equal(t, 2*time.Second, c.ShutdownTimeout)
}

func TestErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file string
		env        []string
		want       string
	}{
		{"unknown key", "default_tenant: tnt_x\nquota_run_create_qpz: 3\n", nil, `unknown key "quota_run_create_qpz"`},
		{"bad int in file", "quota_concurrent_runs: lots\n", nil, `key "quota_concurrent_runs": invalid integer`},
		{"bad duration in file", "shutdown_timeout: soon\n", nil, `key "shutdown_timeout": invalid duration`},
		{"nested value", "max_body_bytes: {a: 1}\n", nil, `key "max_body_bytes"`},
		{"bad env int", "", []string{"AGENTOS_QUOTA_INVOKE_QPS=abc"}, "AGENTOS_QUOTA_INVOKE_QPS: invalid integer"},
		{"bad env duration", "", []string{"AGENTOS_SHUTDOWN_TIMEOUT=10"}, "AGENTOS_SHUTDOWN_TIMEOUT: invalid duration"},
		{"not a mapping", "- a\n- b\n", nil, "top level must be a mapping"},
	}
	for _, c := range cases {
		path := writeFile(t, c.file)
		_, err := config.Load(path, true, c.env)
		require.Error(t, err, c.name)
		require.Contains(t, err.Error(), c.want, c.name)
	}
}

func TestValidateNamesBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  []string
		want string
	}{
		{[]string{"AGENTOS_AUTH_MODE=oauth"}, "auth_mode (AGENTOS_AUTH_MODE): must be dev or jwt"},
		{[]string{"AGENTOS_AUTH_MODE=jwt"}, "jwt mode needs jwt_public_key_file or jwt_jwks_url"},
		{[]string{"AGENTOS_AUTH_MODE=jwt", "AGENTOS_JWT_PUBLIC_KEY_FILE=/k.pem"}, "jwt_issuer (AGENTOS_JWT_ISSUER): must be set"},
		{[]string{"AGENTOS_JWT_ALGORITHMS=HS256"}, `unsupported algorithm "HS256"`},
		{[]string{"AGENTOS_JWT_ALGORITHMS=none"}, `unsupported algorithm "none"`},
		{[]string{"AGENTOS_DEFAULT_TENANT=Bad Tenant"}, "default_tenant (AGENTOS_DEFAULT_TENANT)"},
		{[]string{"AGENTOS_AUDIT_SINK=kafka"}, "audit_sink (AGENTOS_AUDIT_SINK)"},
		{[]string{"AGENTOS_DATABASE_URL=mysql://x"}, "database_url (AGENTOS_DATABASE_URL): unsupported scheme"},
		{[]string{"AGENTOS_ORCHESTRATOR_ADDR=50081"}, "orchestrator_addr (AGENTOS_ORCHESTRATOR_ADDR)"},
		{[]string{"AGENTOS_MAX_BODY_BYTES=0"}, "max_body_bytes (AGENTOS_MAX_BODY_BYTES): must be positive"},
		{[]string{"AGENTOS_QUOTA_CONCURRENT_RUNS=-1"}, "quota_concurrent_runs (AGENTOS_QUOTA_CONCURRENT_RUNS)"},
		{[]string{"AGENTOS_ADMIN_TOKEN=short"}, "admin_token (AGENTOS_ADMIN_TOKEN): must be at least 16"},
		{[]string{"AGENTOS_RUN_TOKEN_KEY=0123456789abcdef0123456789abcde"}, "run_token_key (AGENTOS_RUN_TOKEN_KEY): must be at least 32"},
		{[]string{"AGENTOS_LOG_LEVEL=loud"}, "log_level (AGENTOS_LOG_LEVEL)"},
	}
	for _, c := range cases {
		cfg, err := config.Load("", false, c.env)
		require.NoError(t, err)
		err = cfg.Validate()
		require.Error(t, err, c.env)
		require.Contains(t, err.Error(), c.want, c.env)
	}
}

func TestDatabaseURLPasswordIsRedacted(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", false, []string{"AGENTOS_DATABASE_URL=mysql://u:s3cret@h/db"})
	require.NoError(t, err)
	err = cfg.Validate()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	_, err := config.Load(filepath.Join(t.TempDir(), "none.yaml"), false, nil)
	require.NoError(t, err, "an absent default file is fine")
	_, err = config.Load(filepath.Join(t.TempDir(), "none.yaml"), true, nil)
	require.Error(t, err, "an explicitly named file must exist")
}

func TestUnknownEnv(t *testing.T) {
	t.Parallel()
	got := config.UnknownEnv([]string{"AGENTOS_QUOTA_RUN_CREATE_QPS=1", "AGENTOS_QOUTA=1", "AGENTOS_CONFIG=x", "HOME=/root"})
	require.Equal(t, []string{"AGENTOS_QOUTA"}, got)
}

func TestFieldsDocumentEverySetting(t *testing.T) {
	t.Parallel()
	for _, f := range config.Fields() {
		require.NotEmpty(t, f.YAML)
		require.True(t, strings.HasPrefix(f.Env, "AGENTOS_"), f.YAML)
		require.NotEmpty(t, f.Doc, f.YAML)
	}
}

func TestValidTenantID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"tnt_demo", "ab", "a-b_c9"} {
		require.True(t, config.ValidTenantID(ok), ok)
	}
	for _, bad := range []string{"", "a", "_ab", "-ab", "Tnt", "tnt demo", strings.Repeat("a", 64), "tnt/x", "tnt:x"} {
		require.False(t, config.ValidTenantID(bad), bad)
	}
}
