package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/internal/config"
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
			for _, name := range config.UnknownEnv(g.environ) {
				fmt.Fprintf(g.stderr, "warning: unknown environment variable %s\n", name)
			}
			fmt.Fprintf(g.stdout, "configuration valid (data_dir=%s, auth_mode=%s)\n", cfg.DataDir, cfg.AuthMode)
			return nil
		},
	})
	return cmd
}
