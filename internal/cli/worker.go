package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/impl/worker"
	"github.com/nexixai/agentos/internal/config"
)

func newWorkerCmd(g *globals) *cobra.Command {
	var (
		e           endpoints
		concurrency int
		id          string
		drain       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Lease runs from the orchestrator and execute them until SIGINT/SIGTERM",
		Long: "Run a worker: it leases runs over HTTP with the worker token (AGENTOS_WORKER_TOKEN, else <data-dir>/worker-token), " +
			"runs the agent loop through Model Policy, and streams every step back as events. On SIGTERM it stops leasing and lets the runs it holds finish for up to --drain-timeout; a run still going then is abandoned, and another worker resumes it from its recorded steps once its lease lapses.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e.resolve(g, cmd)
			if e.workerToken == "" {
				return errors.New("no worker token: set AGENTOS_WORKER_TOKEN or point --data-dir at the node's data directory")
			}
			if id == "" {
				host, _ := os.Hostname()
				id = fmt.Sprintf("%s-%d", host, os.Getpid())
			}
			cfg, err := config.Load(g.configPath, false, g.environ)
			if err != nil {
				cfg = config.Defaults()
			}
			logger := newLogger(cfg, g.stderr)
			wk, err := worker.New(worker.Config{
				ID: id, OrchestratorURL: e.orchestrator, ModelPolicyURL: e.modelPolicy, WorkerToken: e.workerToken,
				Concurrency: concurrency, DrainTimeout: drain, Logger: logger,
			})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			logger.Info("worker started", "worker_id", id, "orchestrator", e.orchestrator, "modelpolicy", e.modelPolicy, "concurrency", concurrency)
			return wk.Run(ctx)
		},
	}
	addConnectionFlags(cmd, g, &e)
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "runs executed at once")
	cmd.Flags().DurationVar(&drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long to let held runs finish before abandoning them to be resumed elsewhere")
	cmd.Flags().StringVar(&id, "id", "", "worker id (default HOSTNAME-PID)")
	return cmd
}
