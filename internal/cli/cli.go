// Package cli is the agentos command line. It starts the platform (serve, migrate) and
// talks to running services only through the generated clients.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/internal/buildinfo"
	"github.com/nexixai/agentos/internal/config"
)

// globals are the flags every command shares.
type globals struct {
	configPath string
	dataDir    string
	stdout     io.Writer
	stderr     io.Writer
	environ    []string
}

// Execute runs the CLI with args and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	root := NewRoot(stdout, stderr, environ)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "agentos:", err)
		if ec, ok := err.(exitCoder); ok {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

type exitCoder interface{ ExitCode() int }

// silentExit carries an exit code for a failure already reported on the output.
type silentExit int

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e silentExit) ExitCode() int { return int(e) }

// NewRoot builds the command tree.
func NewRoot(stdout, stderr io.Writer, environ []string) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, environ: environ}
	root := &cobra.Command{
		Use:           "agentos",
		Short:         "AgentOS: a spec-first, multi-tenant, federated agent platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.configPath, "config", envOr(environ, "AGENTOS_CONFIG", "agentos.yaml"), "configuration file (optional unless named explicitly)")
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "data directory (overrides data_dir / AGENTOS_DATA_DIR; default ./data)")
	root.AddCommand(
		newServeCmd(g),
		newWorkerCmd(g),
		newMigrateCmd(g),
		newStatusCmd(g),
		newTenantsCmd(g),
		newAgentsCmd(g),
		newRunsCmd(g),
		newAuditCmd(g),
		newVersionCmd(g),
		newConfigCmd(g),
		newPolicyCmd(g),
	)
	return root
}

// loadConfig loads and validates the configuration, with flags applied on top.
func (g *globals) loadConfig(cmd *cobra.Command, set func(*config.Config) error) (config.Config, error) {
	explicit := cmd.Flags().Changed("config") || envOr(g.environ, "AGENTOS_CONFIG", "") != ""
	cfg, err := config.Load(g.configPath, explicit, g.environ)
	if err != nil {
		return config.Config{}, err
	}
	if g.dataDir != "" {
		cfg.DataDir = g.dataDir
	}
	if set != nil {
		if err := set(&cfg); err != nil {
			return config.Config{}, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// lookupEnv looks a variable up in the CLI's environment.
func (g *globals) lookupEnv(name string) (string, bool) {
	prefix := name + "="
	for i := len(g.environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(g.environ[i], prefix); ok {
			return v, true
		}
	}
	return "", false
}

func envOr(environ []string, name, def string) string {
	prefix := name + "="
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], prefix); ok {
			return v
		}
	}
	return def
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(g.stdout, buildinfo.Version())
			return nil
		},
	}
}

// Main is what cmd/agentos calls.
func Main() {
	ctx := context.Background()
	os.Exit(Execute(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}
