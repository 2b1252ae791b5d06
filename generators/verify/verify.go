// Package verify holds the checks that `make verify` runs: generated code matches a fresh
// generation and carries the generated-code header, the `/v1` API changed only
// additively against spec/baseline/, the service documents pass the house lint rules, and
// every PRS requirement has a scenario.
//
// Each check is a plain function of the directories it reads and returns an error that
// lists every problem it found, so that tests can run it against a temporary copy of the
// tree. Checks lists them with the paths of a repository checkout.
package verify

import "path/filepath"

// Check is one named verification.
type Check struct {
	// Name is the short name used to select the check and in its result line.
	Name string
	// Run performs the check and returns every problem it found.
	Run func() error
}

// Checks returns every check, in the order `make verify` runs them, for the repository
// checked out at root.
func Checks(root string) []Check {
	p := func(elem ...string) string { return filepath.Join(append([]string{root}, elem...)...) }
	return []Check{
		{Name: "lint", Run: func() error { return Lint(p("spec")) }},
		{Name: "generated", Run: func() error { return CheckGenerated(root) }},
		{Name: "headers", Run: func() error { return CheckHeaders(p("gen")) }},
		{Name: "breaking", Run: func() error { return CheckBreaking(p("spec", "baseline"), p("spec")) }},
		{Name: "coverage", Run: func() error { return CheckCoverage(p("spec", "prs.md"), p("features")) }},
	}
}
