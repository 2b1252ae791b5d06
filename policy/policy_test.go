package policy_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/policy"
)

// TestRego runs the bundle's Rego unit tests (policy/*_test.rego), as `agentos policy
// test` and `opa test policy/` do.
func TestRego(t *testing.T) {
	t.Parallel()
	results, err := policyeval.RunTests(context.Background(), policy.Bundle)
	require.NoError(t, err)
	require.NotEmpty(t, results)
	for _, r := range results {
		require.Truef(t, r.Pass, "%s.%s (%s) failed: %v", r.Package, r.Name, r.Location, r.Err)
	}
}
