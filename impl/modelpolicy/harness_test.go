package modelpolicy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
	"github.com/nexixai/agentos/internal/tenant"
)

// testBundle is one Model Policy service on a test database, served by httptest, with a
// test upstream behind an openai provider.
type testBundle struct {
	db        *db.DB
	svc       *modelpolicy.Service
	srv       *httptest.Server
	up        *upstreamtest.Server
	tenant    string
	admin     string
	policy    string // policy directory
	transport *http.Transport
}

type setupOpts struct {
	d          *db.DB
	providers  string // providers YAML; %s is replaced by the upstream base URL
	qps, tpm   int64
	upstream   upstreamtest.Behavior
	policyData string // data.json of a policy directory; "" means the embedded bundle
}

const defaultProviders = `
providers:
  - {name: up, type: openai, base_url: "%s"}
  - {name: builtin, type: builtin}
defaults: {timeout: 2s, first_byte_timeout: 500ms, idle_timeout: 500ms, backoff: 1ms, max_backoff: 5ms}
models:
  - {name: builtin-chat, type: chat, deployments: [{provider: builtin}]}
  - {name: builtin-embedding, type: embedding, deployments: [{provider: builtin}]}
  - {name: up-chat, type: chat, deployments: [{provider: up, model: upstream-model}]}
  - {name: up-embedding, type: embedding, deployments: [{provider: up}]}
`

func setup(t testing.TB, o setupOpts) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{db: o.d, admin: "adm_test_token_0123456789"}
	if b.db == nil {
		if tt, ok := t.(*testing.T); ok {
			b.db = dbtest.SQLite(tt)
		} else {
			d, err := db.Open(ctx, "", t.TempDir())
			require.NoError(t, err)
			require.NoError(t, d.Migrate(ctx))
			t.Cleanup(func() { _ = d.Close() })
			b.db = d
		}
	}
	b.up = upstreamtest.New(o.upstream, true)
	t.Cleanup(b.up.Close)
	if o.providers == "" {
		o.providers = defaultProviders
	}
	dir := t.TempDir()
	pf := filepath.Join(dir, "providers.yaml")
	require.NoError(t, os.WriteFile(pf, []byte(fmt.Sprintf(o.providers, b.up.BaseURL())), 0o644))
	if o.policyData != "" {
		b.policy = filepath.Join(dir, "policy")
		require.NoError(t, os.MkdirAll(b.policy, 0o755))
		for _, name := range []string{"model.rego", "tool.rego"} {
			rego, err := os.ReadFile(filepath.Join("../../policy", name))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(b.policy, name), rego, 0o644))
		}
		require.NoError(t, os.WriteFile(filepath.Join(b.policy, "data.json"), []byte(o.policyData), 0o644))
	}
	b.tenant = "tnt_" + fmt.Sprint(time.Now().UnixNano()%1e9)
	require.NoError(t, tenant.EnsureDefault(ctx, b.db.DB, b.tenant, time.Now()))
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	svc, h, tr, err := newGateway(ctx, b.db, gatewayOptions{providersFile: pf, policyDir: b.policy, qps: o.qps, tpm: o.tpm, admin: b.admin, logger: logger})
	require.NoError(t, err)
	b.svc, b.transport = svc, tr
	b.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		b.srv.Close()
		b.svc.Close()
		b.transport.CloseIdleConnections()
	})
	return b
}

// openai returns an OpenAI SDK client on the gateway, as tenant b.tenant.
func (b *testBundle) openai(opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(b.srv.URL + "/v1/"),
		option.WithAPIKey("unused-in-dev-mode"),
		option.WithHeader("X-Tenant-Id", b.tenant),
		option.WithMaxRetries(0),
	}, opts...)...)
}

// post sends a raw request as the tenant.
func (b *testBundle) post(t *testing.T, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, stringsReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tenant-Id", b.tenant)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, out
}
