package orchestrator_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// testConfig is a node on loopback ports with no embedded workers, demo agent or audit
// sink, on SQLite in a temporary directory.
func testConfig(t *testing.T) config.Config {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.OrchestratorAddr, cfg.ModelPolicyAddr, cfg.FederationAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AuditSink, cfg.Workers, cfg.SeedDemoAgent = "none", 0, false
	return cfg
}

// serveNode serves a node with cfg until the test ends.
func serveNode(t *testing.T, cfg config.Config) *platform.Node {
	require.NoError(t, cfg.Validate())
	node, err := platform.New(context.Background(), cfg, slog.New(slog.DiscardHandler), platform.Options{})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })
	return node
}
