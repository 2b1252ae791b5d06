// Package nodetest serves a whole AgentOS node (platform.Node) inside a test.
package nodetest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// Serve starts a node on cfg that serves until the test ends (and must then stop
// cleanly); ctx ends with it.
func Serve(t testing.TB, cfg config.Config) (*platform.Node, context.Context) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	node, err := platform.New(context.Background(), cfg, slog.New(slog.DiscardHandler), platform.Options{})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })
	return node, ctx
}
