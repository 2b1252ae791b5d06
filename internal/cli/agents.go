package cli

import (
	"errors"
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

func newAgentsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "Manage the tenant's agents",
	}
	cmd.AddCommand(newAgentsApplyCmd(g), newAgentsListCmd(g), newAgentsGetCmd(g), newAgentsDeleteCmd(g))
	return cmd
}

func newAgentsApplyCmd(g *globals) *cobra.Command {
	var (
		e    endpoints
		file string
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create an agent, or store a changed definition as its next version",
		Long: `Apply an agent definition from a YAML or JSON file ("-" for stdin): its id (or
agent_id) and the fields of AgentInput (model, instructions, tools, limits, labels,
description). Keys the schema does not declare are an error. Prints whether the agent was
created, updated (a new version) or unchanged (the definition equals the latest version).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			def, err := readAgentFile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			id := orchestratorapi.AgentId(def.ID)
			var before int64
			prev, err := c.GetAgent(cmd.Context(), orchestratorapi.GetAgentParams{AgentID: id})
			switch {
			case err == nil:
				before = prev.Version
			case !isStatus(err, http.StatusNotFound):
				return problemError(err)
			}
			res, err := c.PutAgent(cmd.Context(), &def.Input, orchestratorapi.PutAgentParams{AgentID: id})
			if err != nil {
				return problemError(err)
			}
			switch r := res.(type) {
			case *orchestratorapi.PutAgentCreated:
				fmt.Fprintf(g.stdout, "created agent %s version %d\n", r.AgentID, r.Version)
			case *orchestratorapi.PutAgentOK:
				verb := "updated"
				if r.Version == before {
					verb = "unchanged"
				}
				fmt.Fprintf(g.stdout, "%s agent %s version %d\n", verb, r.AgentID, r.Version)
			default:
				return fmt.Errorf("put agent: unexpected answer %T", res)
			}
			return nil
		},
	}
	addEndpointFlags(cmd, g, &e)
	cmd.Flags().StringVarP(&file, "file", "f", "", `agent definition, YAML or JSON ("-" for stdin)`)
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newAgentsListCmd(g *globals) *cobra.Command {
	var (
		e      endpoints
		labels []string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's agents at their latest version, most recently changed first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := parsePairs("label", labels); err != nil {
				return err
			}
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tVERSION\tMODEL\tLABELS\tUPDATED")
			params := orchestratorapi.ListAgentsParams{Limit: orchestratorapi.NewOptInt32(200), Label: labels}
			for {
				page, err := c.ListAgents(cmd.Context(), params)
				if err != nil {
					return problemError(err)
				}
				for _, a := range page.Items {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", a.AgentID, a.Version, a.Model, formatLabels(a.Labels), formatTime(a.UpdatedAt))
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
	cmd.Flags().StringArrayVar(&labels, "label", nil, "only agents with label KEY=VALUE (repeatable; all must match)")
	return cmd
}

func newAgentsGetCmd(g *globals) *cobra.Command {
	var (
		e       endpoints
		version int64
		output  string
	)
	cmd := &cobra.Command{
		Use:   "get AGENT_ID",
		Short: "Show an agent at its latest or a given version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format := outputFormat(output)
			if err := format.validate(); err != nil {
				return err
			}
			params := orchestratorapi.GetAgentParams{AgentID: orchestratorapi.AgentId(args[0])}
			if cmd.Flags().Changed("version") {
				if version < 1 {
					return fmt.Errorf("--version %d: want 1 or more", version)
				}
				params.Version = orchestratorapi.NewOptInt64(version)
			}
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			a, err := c.GetAgent(cmd.Context(), params)
			if err != nil {
				return problemError(err)
			}
			doc, err := a.MarshalJSON()
			if err != nil {
				return err
			}
			return printDoc(g.stdout, doc, format)
		},
	}
	addEndpointFlags(cmd, g, &e)
	cmd.Flags().Int64Var(&version, "version", 0, "this version instead of the latest")
	cmd.Flags().StringVarP(&output, "output", "o", string(outputJSON), "json or yaml")
	return cmd
}

func newAgentsDeleteCmd(g *globals) *cobra.Command {
	var e endpoints
	cmd := &cobra.Command{
		Use:   "delete AGENT_ID",
		Short: "Delete an agent (its versions stay for the runs that use them)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			if err := c.DeleteAgent(cmd.Context(), orchestratorapi.DeleteAgentParams{AgentID: orchestratorapi.AgentId(args[0])}); err != nil {
				return problemError(err)
			}
			fmt.Fprintf(g.stdout, "deleted agent %s\n", args[0])
			return nil
		},
	}
	addEndpointFlags(cmd, g, &e)
	return cmd
}

// isStatus reports whether err is a problem answered with the given HTTP status.
func isStatus(err error, status int) bool {
	var p *orchestratorapi.ProblemStatusCode
	return errors.As(err, &p) && p.StatusCode == status
}
