package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/policyeval"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and validate the configuration; print each problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			// The files the settings name are checked too: the providers file strictly,
			// the policy directory by compiling it.
			if _, err := provider.LoadFile(cfg.ModelProvidersFile, g.lookupEnv); err != nil {
				return fmt.Errorf("model_providers_file (AGENTOS_MODEL_PROVIDERS_FILE): %w", err)
			}
			if cfg.PolicyDir != "" {
				if _, err := policyeval.New(cmd.Context(), policyeval.Options{Dir: cfg.PolicyDir}); err != nil {
					return fmt.Errorf("policy_dir (AGENTOS_POLICY_DIR): %w", err)
				}
			}
			for _, name := range config.UnknownEnv(g.environ) {
				fmt.Fprintf(g.stderr, "warning: unknown environment variable %s\n", name)
			}
			fmt.Fprintf(g.stdout, "configuration valid (data_dir=%s, auth_mode=%s)\n", cfg.DataDir, cfg.AuthMode)
			return nil
		},
	})
	return cmd
}
