package policyeval

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule.
type TestResult struct {
	Package  string
	Name     string
	Location string
	Pass     bool
	Skip     bool
	// Fail is true when the rule was false or undefined; Err is set when it failed to
	// evaluate.
	Fail     bool
	Err      error
	Duration time.Duration
}

// RunTests runs every test_* rule of the bundle in fsys (its *_test.rego files with the
// policies and data they test), as `opa test` does.
func RunTests(ctx context.Context, fsys fs.FS) ([]TestResult, error) {
	b, err := LoadBundle(fsys, true)
	if err != nil {
		return nil, err
	}
	store := inmem.NewFromObject(b.Data)
	ch, err := tester.NewRunner().SetStore(store).SetModules(b.Modules).RaiseBuiltinErrors(true).Run(ctx, b.Modules)
	if err != nil {
		return nil, fmt.Errorf("run policy tests: %w", err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{
			Package:  r.Package,
			Name:     r.Name,
			Pass:     r.Pass(),
			Skip:     r.Skip,
			Fail:     r.Fail,
			Err:      r.Error,
			Duration: r.Duration,
		}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		out = append(out, tr)
	}
	return out, nil
}
