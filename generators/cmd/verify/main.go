// Command verify runs the checks of `make verify` (see package generators/verify) against
// the repository at -root and prints one line per check:
//
//	ok   generated
//	FAIL breaking: non-additive /v1 changes against spec/baseline …
//
// It exits 1 when any check fails. -only runs a comma-separated subset of lint,
// generated, headers, breaking and coverage. -update-baseline instead copies spec/ to
// spec/baseline/ (`make baseline`) and runs no check.
//
// Usage, from the repository root:
//
//	go run ./generators/cmd/verify
//	go run ./generators/cmd/verify -only generated,headers
//	go run ./generators/cmd/verify -update-baseline
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nexixai/agentos/generators/verify"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("verify", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", ".", "repository root")
	only := flags.String("only", "", "comma-separated checks to run (default: all)")
	updateBaseline := flags.Bool("update-baseline", false, "copy spec/ to spec/baseline/ and run no check")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "verify: unexpected arguments %q\n", flags.Args())
		return 2
	}

	if *updateBaseline {
		spec, base := filepath.Join(*root, "spec"), filepath.Join(*root, "spec", "baseline")
		if err := verify.RefreshBaseline(spec, base); err != nil {
			_, _ = fmt.Fprintf(stderr, "verify: %v\n", err)
			return 1
		}
		_, _ = fmt.Fprintf(stdout, "verify: copied %s to %s\n", spec, base)
		return 0
	}

	checks, err := selectChecks(verify.Checks(*root), *only)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "verify: %v\n", err)
		return 2
	}
	code := 0
	for _, c := range checks {
		if err := c.Run(); err != nil {
			_, _ = fmt.Fprintf(stdout, "FAIL %s: %s\n", c.Name, strings.ReplaceAll(err.Error(), "\n", "\n     "))
			code = 1
			continue
		}
		_, _ = fmt.Fprintf(stdout, "ok   %s\n", c.Name)
	}
	return code
}

// selectChecks returns the checks named in the comma-separated list, in their standard
// order, or all of them for an empty list.
func selectChecks(all []verify.Check, list string) ([]verify.Check, error) {
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	names := make([]string, 0, len(all))
	for _, c := range all {
		names = append(names, c.Name)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(names, n) {
			return nil, fmt.Errorf("unknown check %q (have %s)", n, strings.Join(names, ", "))
		}
		want[n] = true
	}
	var out []verify.Check
	for _, c := range all {
		if want[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}
