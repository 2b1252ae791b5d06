package orchestrator_test

import (
	"testing"

	"github.com/nexixai/agentos/internal/config"
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
