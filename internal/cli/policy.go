package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/policy"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test and evaluate Rego policies locally (no running service needed)",
	}
	cmd.AddCommand(newPolicyTestCmd(g), newPolicyEvalCmd(g))
	return cmd
}

// policySource is dir, or the embedded bundle when dir is "".
func policySource(dir string) (fs.FS, string, error) {
	if dir == "" {
		return policy.Bundle, "the embedded bundle", nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, "", err
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("%s is not a directory", dir)
	}
	return os.DirFS(dir), dir, nil
}

func newPolicyTestCmd(g *globals) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test [dir]",
		Short: "Run the Rego unit tests (test_* rules in *_test.rego) of a policy directory, or of the embedded bundle",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			fsys, name, err := policySource(dir)
			if err != nil {
				return err
			}
			results, err := policyeval.RunTests(cmd.Context(), fsys)
			if err != nil {
				return err
			}
			if len(results) == 0 {
				return fmt.Errorf("no Rego tests (test_* rules in *_test.rego) in %s", name)
			}
			var failed, skipped int
			for _, r := range results {
				status := "PASS"
				switch {
				case r.Skip:
					status, skipped = "SKIP", skipped+1
				case !r.Pass:
					status, failed = "FAIL", failed+1
				}
				if verbose || status == "FAIL" {
					fmt.Fprintf(g.stdout, "%s %s.%s (%s) %s\n", status, r.Package, r.Name, r.Location, r.Duration)
				}
				if r.Err != nil {
					fmt.Fprintf(g.stdout, "  error: %v\n", r.Err)
				}
			}
			fmt.Fprintf(g.stdout, "%s: %d tests, %d passed, %d failed, %d skipped\n", name, len(results), len(results)-failed-skipped, failed, skipped)
			if failed > 0 {
				return silentExit(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every test, not only failures")
	return cmd
}

func newPolicyEvalCmd(g *globals) *cobra.Command {
	var dir, input string
	cmd := &cobra.Command{
		Use:   "eval --input FILE [--dir DIR]",
		Short: "Evaluate one policy input (JSON or YAML, - for stdin) and print the decision",
		Long: "Evaluates data.agentos.model.decision for the input document, as Model Policy does for a call:\n" +
			"{tenant: {id, known, labels}, principal: {id, roles, auth}, operation, model, tools, estimated_tokens, max_tokens, stream}.\n" +
			"An undefined decision is a deny. Prints {allow, reasons, obligations, revision} as JSON.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return fmt.Errorf("--input is required")
			}
			var data []byte
			var err error
			if input == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(input)
			}
			if err != nil {
				return fmt.Errorf("read input: %w", err)
			}
			doc, err := decodeInput(data)
			if err != nil {
				return fmt.Errorf("input %s: %w", input, err)
			}
			fsys, _, err := policySource(dir)
			if err != nil {
				return err
			}
			e, err := policyeval.New(cmd.Context(), policyeval.Options{Dir: dir, Embedded: fsys})
			if err != nil {
				return err
			}
			d, err := e.EvaluateRaw(cmd.Context(), doc)
			if err != nil {
				return err
			}
			out := map[string]any{"allow": d.Allow, "reasons": nonNil(d.Reasons), "obligations": d.Obligations, "revision": d.Revision}
			if d.Obligations == nil {
				out["obligations"] = map[string]any{}
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory (default: the embedded bundle)")
	cmd.Flags().StringVar(&input, "input", "", "input document (JSON or YAML; - for stdin)")
	return cmd
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// decodeInput reads a JSON (or YAML) object, keeping JSON numbers exact.
func decodeInput(data []byte) (map[string]any, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err == nil {
		return doc, nil
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not JSON or YAML: %w", err)
	}
	j, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	dec = json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, fmt.Errorf("must be an object")
	}
	return doc, nil
}
