package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// waitPoll is how long one GET /v1/runs/{id}:wait of `runs create --wait` waits.
const waitPoll = 30 * time.Second

const runsLong = `Exit status of the commands that wait for a run to end (runs watch, runs create --wait
or --watch): 0 when it completed; 1 when it failed, was cancelled or timed out, or when
the command itself failed (the message on stderr says which).`

func newRunsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "Start, inspect, cancel and watch runs",
		Long:  runsLong,
	}
	cmd.AddCommand(newRunsCreateCmd(g), newRunsGetCmd(g), newRunsListCmd(g), newRunsCancelCmd(g), newRunsWatchCmd(g))
	return cmd
}

func newRunsCreateCmd(g *globals) *cobra.Command {
	var (
		e                   endpoints
		w                   watchFlags
		input, inputFile    string
		metadata            []string
		deadline            string
		timeout             time.Duration
		idempotencyKey      string
		waitFlag, watchFlag bool
	)
	cmd := &cobra.Command{
		Use:   "create AGENT_ID",
		Short: "Start a run of the agent's latest version and print its id",
		Long: `Start a run of the agent's latest version and print its id. With --wait, block until
the run ends and print its final status and output; with --watch, stream its events as
"runs watch" does.

` + runsLong,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := &orchestratorapi.RunInput{Input: input}
			if cmd.Flags().Changed("input-file") {
				data, err := readInput(inputFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				in.Input = data
			}
			if len(metadata) > 0 {
				m, err := parsePairs("metadata", metadata)
				if err != nil {
					return err
				}
				in.Metadata = orchestratorapi.NewOptStringMap(m)
			}
			switch {
			case deadline != "":
				t, err := time.Parse(time.RFC3339, deadline)
				if err != nil {
					return fmt.Errorf("--deadline %q: want an RFC 3339 time such as 2030-01-02T15:04:05Z", deadline)
				}
				in.Deadline = orchestratorapi.NewOptDateTime(t)
			case cmd.Flags().Changed("timeout"):
				if timeout <= 0 {
					return fmt.Errorf("--timeout %s: want a positive duration", timeout)
				}
				// Relative, so that a retry with the same idempotency key sends the same body.
				in.TimeoutSeconds = orchestratorapi.NewOptInt32(int32(min((timeout+time.Second-1)/time.Second, 604800)))
			}
			params := orchestratorapi.CreateRunParams{AgentID: orchestratorapi.AgentId(args[0])}
			if idempotencyKey != "" {
				params.IdempotencyKey = orchestratorapi.NewOptString(idempotencyKey)
			}
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			res, err := c.CreateRun(cmd.Context(), in, params)
			if err != nil {
				return problemError(err)
			}
			run := res.Response
			fmt.Fprintln(g.stdout, run.RunID)
			if res.IdempotentReplayed.Or(false) {
				fmt.Fprintln(g.stderr, "agentos: an earlier request with this idempotency key created the run")
			}
			switch {
			case waitFlag:
				return waitForRun(cmd.Context(), g, &e, run.RunID)
			case watchFlag:
				return watchRun(cmd.Context(), g, &e, run.RunID, 0, w)
			}
			return nil
		},
	}
	addConnectionFlags(cmd, g, &e)
	f := cmd.Flags()
	f.DurationVar(&e.timeout, "request-timeout", 10*time.Second, "per-request timeout")
	f.StringVar(&input, "input", "", "the run's input text")
	f.StringVar(&inputFile, "input-file", "", `read the input from a file ("-" for stdin)`)
	f.StringArrayVar(&metadata, "metadata", nil, "metadata KEY=VALUE (repeatable)")
	f.StringVar(&deadline, "deadline", "", "end the run timed_out if it is not over by this RFC 3339 time")
	f.DurationVar(&timeout, "timeout", 0, "end the run timed_out if it is not over this long after now (e.g. 5m)")
	f.StringVar(&idempotencyKey, "idempotency-key", "", "retrying with the same key and input answers the same run")
	f.BoolVar(&waitFlag, "wait", false, "wait for the run to end; print its final status and output")
	f.BoolVar(&watchFlag, "watch", false, "stream the run's events until it ends")
	w.register(cmd)
	cmd.MarkFlagsMutuallyExclusive("input", "input-file")
	cmd.MarkFlagsMutuallyExclusive("deadline", "timeout")
	cmd.MarkFlagsMutuallyExclusive("wait", "watch")
	return cmd
}

func readInput(path string, stdin io.Reader) (string, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read input: %w", err)
	}
	return string(data), nil
}

// waitForRun long-polls waitRun until the run is terminal, then prints it.
func waitForRun(ctx context.Context, g *globals, e *endpoints, id orchestratorapi.RunId) error {
	c, err := e.longPollClient(waitPoll)
	if err != nil {
		return err
	}
	for {
		r, err := c.WaitRun(ctx, orchestratorapi.WaitRunParams{RunID: id, Timeout: orchestratorapi.NewOptString(fmt.Sprintf("%ds", int(waitPoll/time.Second)))})
		if err != nil {
			return problemError(err)
		}
		if !terminalStatus(r.Status) {
			continue
		}
		printFinal(g.stdout, r.RunID, r.Status, r.Error)
		if out, ok := r.Output.Get(); ok && out != "" {
			fmt.Fprintln(g.stdout, out)
		}
		return exitFor(r.Status)
	}
}

func newRunsGetCmd(g *globals) *cobra.Command {
	var (
		e      endpoints
		output string
	)
	cmd := &cobra.Command{
		Use:   "get RUN_ID",
		Short: "Show a run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format := outputFormat(output)
			if err := format.validate(); err != nil {
				return err
			}
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			r, err := c.GetRun(cmd.Context(), orchestratorapi.GetRunParams{RunID: orchestratorapi.RunId(args[0])})
			if err != nil {
				return problemError(err)
			}
			doc, err := r.MarshalJSON()
			if err != nil {
				return err
			}
			return printDoc(g.stdout, doc, format)
		},
	}
	addEndpointFlags(cmd, g, &e)
	cmd.Flags().StringVarP(&output, "output", "o", string(outputJSON), "json or yaml")
	return cmd
}

func newRunsListCmd(g *globals) *cobra.Command {
	var (
		e        endpoints
		agent    string
		statuses []string
		limit    int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (all) or more", limit)
			}
			params := orchestratorapi.ListRunsParams{}
			if agent != "" {
				params.AgentID = orchestratorapi.NewOptAgentId(orchestratorapi.AgentId(agent))
			}
			for _, s := range statuses {
				st := orchestratorapi.RunStatus(s)
				if err := st.Validate(); err != nil {
					return fmt.Errorf("--status %q: want one of %s", s, joinStatuses())
				}
				params.Status = append(params.Status, st)
			}
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tAGENT\tSTATUS\tATTEMPT\tCREATED")
			left := limit
			for {
				size := 200
				if limit > 0 {
					size = min(size, left)
				}
				params.Limit = orchestratorapi.NewOptInt32(int32(size))
				page, err := c.ListRuns(cmd.Context(), params)
				if err != nil {
					return problemError(err)
				}
				for _, r := range page.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.RunID, r.AgentID, r.Status, r.Attempt, formatTime(r.CreatedAt))
				}
				left -= len(page.Items)
				next, ok := page.NextCursor.Get()
				if !ok || (limit > 0 && left <= 0) {
					break
				}
				params.Cursor = orchestratorapi.NewOptString(next)
			}
			return tw.Flush()
		},
	}
	addEndpointFlags(cmd, g, &e)
	cmd.Flags().StringVar(&agent, "agent", "", "only runs of this agent")
	cmd.Flags().StringArrayVar(&statuses, "status", nil, "only runs in this status (repeatable: any of them)")
	cmd.Flags().IntVar(&limit, "limit", 50, "list at most this many runs (0 for all)")
	return cmd
}

func newRunsCancelCmd(g *globals) *cobra.Command {
	var e endpoints
	cmd := &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Cancel a run and print its resulting status",
		Long: `Cancel a run: a queued run is cancelled at once, a running one becomes cancelling
until its worker stops. Prints the run's status after the request.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e.resolve(g, cmd)
			c, err := e.orchestratorClient()
			if err != nil {
				return err
			}
			r, err := c.CancelRun(cmd.Context(), orchestratorapi.CancelRunParams{RunID: orchestratorapi.RunId(args[0])})
			if err != nil {
				return problemError(err)
			}
			fmt.Fprintf(g.stdout, "run %s %s\n", r.RunID, r.Status)
			return nil
		},
	}
	addEndpointFlags(cmd, g, &e)
	return cmd
}

func newRunsWatchCmd(g *globals) *cobra.Command {
	var (
		e     endpoints
		w     watchFlags
		after int64
	)
	cmd := &cobra.Command{
		Use:   "watch RUN_ID",
		Short: "Stream a run's events until it ends, resuming after dropped connections",
		Long: `Stream a run's events, one line each ("#SEQ  TYPE  SUMMARY", or the event's JSON with
--json), until its terminal event; then print its final status. A dropped connection is
resumed from the last event printed (Last-Event-ID), with a backoff from 100ms doubling
to 5s, so that no event is printed twice or skipped; the command gives up when no event
arrives for --reconnect-timeout.

` + runsLong,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if after < 0 {
				return fmt.Errorf("--after %d: want 0 or more", after)
			}
			e.resolve(g, cmd)
			return watchRun(cmd.Context(), g, &e, orchestratorapi.RunId(args[0]), after, w)
		},
	}
	addEndpointFlags(cmd, g, &e)
	cmd.Flags().Int64Var(&after, "after", 0, "start after this seq")
	w.register(cmd)
	return cmd
}

// watchFlags are the flags of commands that stream events.
type watchFlags struct {
	json             bool
	reconnectTimeout time.Duration
	idleTimeout      time.Duration
}

func (w *watchFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&w.json, "json", false, "print each event as its JSON line; the final status then goes to stderr")
	f.DurationVar(&w.reconnectTimeout, "reconnect-timeout", 5*time.Minute, "give up when reconnecting brings no event for this long")
	f.DurationVar(&w.idleTimeout, "idle-timeout", time.Minute, "reconnect when the stream sends nothing, not even a keepalive, for this long")
}

// terminalStatus reports whether a run in status s has ended.
func terminalStatus(s orchestratorapi.RunStatus) bool {
	switch s {
	case orchestratorapi.RunStatusCompleted, orchestratorapi.RunStatusFailed,
		orchestratorapi.RunStatusCancelled, orchestratorapi.RunStatusTimedOut:
		return true
	}
	return false
}

// exitFor is the command's result for a run that ended in status s.
func exitFor(s orchestratorapi.RunStatus) error {
	if s == orchestratorapi.RunStatusCompleted {
		return nil
	}
	return silentExit(1)
}

// printFinal prints a run's final line: "run ID STATUS[: CODE: MESSAGE]".
func printFinal(w io.Writer, id orchestratorapi.RunId, s orchestratorapi.RunStatus, runErr orchestratorapi.OptRunError) {
	if e, ok := runErr.Get(); ok {
		fmt.Fprintf(w, "run %s %s: %s: %s\n", id, s, e.Code, e.Message)
		return
	}
	fmt.Fprintf(w, "run %s %s\n", id, s)
}

func joinStatuses() string {
	var s string
	for i, st := range orchestratorapi.RunStatus("").AllValues() {
		if i > 0 {
			s += ", "
		}
		s += string(st)
	}
	return s
}
