package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/gen/federationapi"
	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
)

type serviceStatus struct {
	name, url, status, version string
	err                        error
}

func newStatusCmd(g *globals) *cobra.Command {
	var e endpoints
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each service's health and version; exit 1 when one is down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e.resolve(g, cmd)
			statuses := checkStatus(cmd.Context(), &e)
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tURL\tSTATUS\tVERSION")
			down := 0
			for _, s := range statuses {
				state := s.status
				if s.err != nil {
					state, down = "down: "+s.err.Error(), down+1
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.name, s.url, state, s.version)
			}
			_ = tw.Flush()
			if down > 0 {
				return silentExit(1)
			}
			return nil
		},
	}
	addEndpointFlags(cmd, g, &e)
	return cmd
}

func checkStatus(ctx context.Context, e *endpoints) []serviceStatus {
	out := []serviceStatus{
		{name: "orchestrator", url: e.orchestrator},
		{name: "modelpolicy", url: e.modelPolicy},
		{name: "federation", url: e.federation},
	}
	if c, err := e.orchestratorClient(); err != nil {
		out[0].err = err
	} else if h, err := c.GetHealth(ctx); err != nil {
		out[0].err = err
	} else {
		out[0].status, out[0].version = string(h.Status), h.Version
	}
	if c, err := e.modelPolicyClient(); err != nil {
		out[1].err = err
	} else if h, err := c.GetHealth(ctx); err != nil {
		out[1].err = err
	} else {
		out[1].status, out[1].version = string(h.Status), h.Version
	}
	if c, err := e.federationClient(); err != nil {
		out[2].err = err
	} else if h, err := c.GetHealth(ctx); err != nil {
		out[2].err = err
	} else {
		out[2].status, out[2].version = string(h.Status), h.Version
	}
	return out
}

// problemError renders a problem answered by any service as an error.
func problemError(err error) error {
	var op *orchestratorapi.ProblemStatusCode
	if errors.As(err, &op) {
		return fmt.Errorf("%d %s: %s", op.StatusCode, op.Response.Code, op.Response.Detail.Or(op.Response.Title))
	}
	var mp *modelpolicyapi.ProblemStatusCode
	if errors.As(err, &mp) {
		return fmt.Errorf("%d %s: %s", mp.StatusCode, mp.Response.Code, mp.Response.Detail.Or(mp.Response.Title))
	}
	var fp *federationapi.ProblemStatusCode
	if errors.As(err, &fp) {
		return fmt.Errorf("%d %s: %s", fp.StatusCode, fp.Response.Code, fp.Response.Detail.Or(fp.Response.Title))
	}
	return err
}
