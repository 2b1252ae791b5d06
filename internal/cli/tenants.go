package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

func newTenantsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Manage tenants through the orchestrator's admin API (needs the admin token)",
	}
	cmd.AddCommand(newTenantsCreateCmd(g), newTenantsListCmd(g), newTenantsGetCmd(g), newTenantsDeleteCmd(g))
	return cmd
}

func newTenantsCreateCmd(g *globals) *cobra.Command {
	var (
		e           endpoints
		displayName string
		labels      []string
	)
	cmd := &cobra.Command{
		Use:   "create TENANT_ID",
		Short: "Create or replace a tenant",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			in := &orchestratorapi.TenantInput{}
			if displayName != "" {
				in.DisplayName = orchestratorapi.NewOptString(displayName)
			}
			if len(labels) > 0 {
				m := orchestratorapi.TenantInputLabels{}
				for _, kv := range labels {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return fmt.Errorf("--label %q: want KEY=VALUE", kv)
					}
					m[k] = v
				}
				in.Labels = orchestratorapi.NewOptTenantInputLabels(m)
			}
			res, err := c.PutTenant(cmd.Context(), in, orchestratorapi.PutTenantParams{TenantID: orchestratorapi.TenantId(args[0])})
			if err != nil {
				return problemError(err)
			}
			switch r := res.(type) {
			case *orchestratorapi.PutTenantCreated:
				fmt.Fprintf(g.stdout, "created tenant %s\n", r.TenantID)
			case *orchestratorapi.PutTenantOK:
				fmt.Fprintf(g.stdout, "updated tenant %s\n", r.TenantID)
			}
			return nil
		},
	}
	addEndpointFlags(cmd, g, &e)
	cmd.Flags().StringVar(&displayName, "display-name", "", "human-readable name")
	cmd.Flags().StringSliceVar(&labels, "label", nil, "label KEY=VALUE (repeatable)")
	return cmd
}

func newTenantsListCmd(g *globals) *cobra.Command {
	var e endpoints
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every tenant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TENANT\tDISPLAY NAME\tLABELS\tCREATED")
			params := orchestratorapi.ListTenantsParams{Limit: orchestratorapi.NewOptInt32(200)}
			for {
				page, err := c.ListTenants(cmd.Context(), params)
				if err != nil {
					return problemError(err)
				}
				for _, t := range page.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.TenantID, t.DisplayName, formatLabels(t.Labels), t.CreatedAt.Format("2006-01-02T15:04:05Z"))
				}
				next, ok := page.NextCursor.Get()
				if !ok {
					break
				}
				params.Cursor = orchestratorapi.NewOptString(next)
			}
			return tw.Flush()
		},
	}
	addEndpointFlags(cmd, g, &e)
	return cmd
}

func newTenantsGetCmd(g *globals) *cobra.Command {
	var e endpoints
	cmd := &cobra.Command{
		Use:   "get TENANT_ID",
		Short: "Show one tenant as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			t, err := c.GetTenant(cmd.Context(), orchestratorapi.GetTenantParams{TenantID: orchestratorapi.TenantId(args[0])})
			if err != nil {
				return problemError(err)
			}
			data, err := t.MarshalJSON()
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, string(data))
			return nil
		},
	}
	addEndpointFlags(cmd, g, &e)
	return cmd
}

func newTenantsDeleteCmd(g *globals) *cobra.Command {
	var e endpoints
	cmd := &cobra.Command{
		Use:   "delete TENANT_ID",
		Short: "Delete a tenant",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			if err := c.DeleteTenant(cmd.Context(), orchestratorapi.DeleteTenantParams{TenantID: orchestratorapi.TenantId(args[0])}); err != nil {
				return problemError(err)
			}
			fmt.Fprintf(g.stdout, "deleted tenant %s\n", args[0])
			return nil
		},
	}
	addEndpointFlags(cmd, g, &e)
	return cmd
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
