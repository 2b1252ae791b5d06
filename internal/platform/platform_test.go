package platform_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.OrchestratorAddr, cfg.ModelPolicyAddr, cfg.FederationAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AuditSink = "none"
	cfg.ShutdownTimeout = 5 * time.Second
	require.NoError(t, cfg.Validate())
	return cfg
}

// A request in flight when the node is told to stop completes; new ones are refused.
func TestServeDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	node, err := platform.New(context.Background(), testConfig(t), slog.New(slog.DiscardHandler), platform.Options{
		Inner: func(service string, h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if service == platform.Orchestrator && r.URL.Query().Get("slow") != "" {
					close(entered)
					<-release
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	require.NoError(t, err)
	base := node.URL(platform.Orchestrator)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- node.Serve(ctx) }()

	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/v1/health?slow=1")
		if err != nil {
			slow <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-entered
	stop() // as SIGTERM does
	require.Eventually(t, func() bool {
		_, err := http.Get(base + "/v1/health")
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "new connections are refused while draining")
	close(release)

	r := <-slow
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `"status":"ok"`)
	require.NoError(t, <-served)
}

func TestAdminTokenGeneratedOnceAndPrivate(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	tok, err := platform.AdminToken(cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(tok), 16)
	again, err := platform.AdminToken(cfg)
	require.NoError(t, err)
	require.Equal(t, tok, again, "the generated token is kept")
	info, err := os.Stat(filepath.Join(cfg.DataDir, "admin-token"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	cfg.AdminToken = "configured-token-123456"
	got, err := platform.AdminToken(cfg)
	require.NoError(t, err)
	require.Equal(t, "configured-token-123456", got, "AGENTOS_ADMIN_TOKEN wins")
}

func TestRunTokenKeyGeneratedOnceAndPrivate(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	key, err := platform.RunTokenKey(cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(key), 32)
	again, err := platform.RunTokenKey(cfg)
	require.NoError(t, err)
	require.Equal(t, key, again, "the generated key is kept")
	info, err := os.Stat(platform.RunTokenKeyPath(cfg))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	cfg.RunTokenKey = "configured-run-token-key-0123456789abcdef"
	got, err := platform.RunTokenKey(cfg)
	require.NoError(t, err)
	require.Equal(t, cfg.RunTokenKey, got, "AGENTOS_RUN_TOKEN_KEY wins")

	short := testConfig(t)
	require.NoError(t, os.WriteFile(platform.RunTokenKeyPath(short), []byte("too-short-for-a-key\n"), 0o600))
	_, err = platform.RunTokenKey(short)
	require.ErrorContains(t, err, "at least 32 characters", "a stored key shorter than 32 characters is refused")
}

func TestUnknownServiceIsRefused(t *testing.T) {
	t.Parallel()
	_, err := platform.New(context.Background(), testConfig(t), slog.New(slog.DiscardHandler), platform.Options{Services: []string{"scheduler"}})
	require.ErrorContains(t, err, `unknown service "scheduler"`)
}

func TestSingleServiceNode(t *testing.T) {
	t.Parallel()
	node, err := platform.New(context.Background(), testConfig(t), slog.New(slog.DiscardHandler), platform.Options{Services: []string{platform.Federation}})
	require.NoError(t, err)
	require.Empty(t, node.URL(platform.Orchestrator))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	resp, err := http.Get(node.URL(platform.Federation) + "/v1/federation/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	stop()
	require.NoError(t, <-done)
}

// The demo agent is seeded once: not again after the tenant deleted it, and not at all
// when turned off.
func TestDemoAgentSeededOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testConfig(t)
	start := func(cfg config.Config) *platform.Node {
		node, err := platform.New(ctx, cfg, slog.New(slog.DiscardHandler), platform.Options{Services: []string{platform.Orchestrator}})
		require.NoError(t, err)
		return node
	}
	node := start(cfg)
	a, err := store.GetAgent(ctx, node.DB.DB, cfg.DefaultTenant, platform.DemoAgentID, 0)
	require.NoError(t, err)
	require.Equal(t, "builtin-chat", a.Spec.Model)
	require.Equal(t, "calculator", a.Spec.Tools[0].Name)
	require.NoError(t, store.DeleteAgent(ctx, node.DB.DB, cfg.DefaultTenant, platform.DemoAgentID, time.Now()))
	stopNode(t, node)

	node = start(cfg)
	_, err = store.GetAgent(ctx, node.DB.DB, cfg.DefaultTenant, platform.DemoAgentID, 0)
	require.ErrorIs(t, err, store.ErrNotFound, "a deleted demo agent stays deleted")
	stopNode(t, node)

	off := testConfig(t)
	off.SeedDemoAgent = false
	node = start(off)
	_, err = store.GetAgent(ctx, node.DB.DB, off.DefaultTenant, platform.DemoAgentID, 0)
	require.ErrorIs(t, err, store.ErrNotFound)
	stopNode(t, node)
}

func stopNode(t *testing.T, node *platform.Node) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	stop()
	require.NoError(t, <-done)
}
