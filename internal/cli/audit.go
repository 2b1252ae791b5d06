package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/platform"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Inspect the audit log",
	}
	var tenantID string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every tenant's audit hash chain; exit 1 at the first edited, inserted or deleted record",
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
			findings, err := audit.Verify(cmd.Context(), d.DB, tenantID)
			if err != nil {
				return err
			}
			if len(findings) == 0 {
				fmt.Fprintln(g.stdout, "audit log intact")
				return nil
			}
			for _, f := range findings {
				fmt.Fprintf(g.stdout, "tenant %s: record %d %s: %s\n", f.TenantID, f.Seq, f.Kind, f.Detail)
			}
			return silentExit(1)
		},
	}
	verify.Flags().StringVar(&tenantID, "tenant", "", "verify one tenant's chain only")
	cmd.AddCommand(verify)
	return cmd
}
