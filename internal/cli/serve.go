package cli

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		orchAddr, mpAddr, fedAddr string
		workers                   int
		noDemo                    bool
	)
	cmd := &cobra.Command{
		Use:       "serve [orchestrator|modelpolicy|federation]",
		Short:     "Run the services (all three by default) until SIGINT/SIGTERM",
		Long:      "Run the Agent Orchestrator (:50081), Model Policy (:50082) and Federation (:50083) in one process, or one of them alone. On SIGTERM or SIGINT in-flight requests drain for up to shutdown_timeout.",
		Args:      cobra.MatchAll(cobra.MaximumNArgs(1), cobra.OnlyValidArgs),
		ValidArgs: platform.AllServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(cmd, func(c *config.Config) error {
				for flag, dst := range map[string]*string{"orchestrator-addr": &c.OrchestratorAddr, "modelpolicy-addr": &c.ModelPolicyAddr, "federation-addr": &c.FederationAddr} {
					if cmd.Flags().Changed(flag) {
						v, _ := cmd.Flags().GetString(flag)
						*dst = v
					}
				}
				if cmd.Flags().Changed("workers") {
					c.Workers = workers
				}
				if noDemo {
					c.SeedDemoAgent = false
				}
				return nil
			})
			if err != nil {
				return err
			}
			logger := newLogger(cfg, g.stderr)
			for _, name := range config.UnknownEnv(g.environ) {
				logger.Warn("ignoring unknown environment variable", "name", name)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			node, err := platform.New(ctx, cfg, logger, platform.Options{Services: args, LookupEnv: g.lookupEnv})
			if err != nil {
				return err
			}
			logger.Info("agentos started", "data_dir", cfg.DataDir, "database", databaseKind(cfg), "auth_mode", cfg.AuthMode,
				"default_tenant", cfg.DefaultTenant, "admin_token_file", adminTokenHint(cfg))
			return node.Serve(ctx)
		},
	}
	cmd.Flags().StringVar(&orchAddr, "orchestrator-addr", "", "orchestrator listen address (default 127.0.0.1:50081)")
	cmd.Flags().StringVar(&mpAddr, "modelpolicy-addr", "", "model policy listen address (default 127.0.0.1:50082)")
	cmd.Flags().StringVar(&fedAddr, "federation-addr", "", "federation listen address (default 127.0.0.1:50083)")
	cmd.Flags().BoolVar(&noDemo, "no-demo-agent", false, "do not seed the example agent demo (seed_demo_agent / AGENTOS_SEED_DEMO_AGENT)")
	cmd.Flags().IntVar(&workers, "workers", 0, "embedded workers (0 = none; overrides workers / AGENTOS_WORKERS)")
	return cmd
}

func databaseKind(cfg config.Config) string {
	if cfg.DatabaseURL == "" {
		return "sqlite:" + cfg.DataDir + "/agentos.db"
	}
	if len(cfg.DatabaseURL) > 8 && cfg.DatabaseURL[:8] == "postgres" {
		return "postgres"
	}
	return cfg.DatabaseURL
}

func adminTokenHint(cfg config.Config) string {
	if cfg.AdminToken != "" {
		return "(from AGENTOS_ADMIN_TOKEN)"
	}
	return platform.AdminTokenPath(cfg)
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			d, err := platform.OpenDB(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer d.Close()
			fmt.Fprintf(g.stdout, "migrated %s database\n", d.Dialect)
			return nil
		},
	}
}
