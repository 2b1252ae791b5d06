package verify_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/generators/verify"
)

func TestCheckCoverage(t *testing.T) {
	t.Parallel()

	// setup copies the traceability fixtures, where every requirement has a scenario.
	setup := func(t *testing.T) (prs, features string) {
		t.Helper()
		dir := t.TempDir()
		copyTree(t, "../testdata/traceability", dir)
		return filepath.Join(dir, "prs.md"), filepath.Join(dir, "features")
	}

	t.Run("full coverage passes", func(t *testing.T) {
		t.Parallel()

		prs, features := setup(t)
		require.NoError(t, verify.CheckCoverage(prs, features))
	})

	t.Run("a requirement without a scenario fails naming it", func(t *testing.T) {
		t.Parallel()

		prs, features := setup(t)
		appendTo(t, prs, "- **PRS-ERR-003** A new requirement nobody tested.\n")
		err := verify.CheckCoverage(prs, features)
		require.ErrorContains(t, err, "1 of 5 requirements have no scenario")
		require.ErrorContains(t, err, "PRS-ERR-003 ("+prs+":")
	})

	t.Run("an unknown PRS tag fails naming it", func(t *testing.T) {
		t.Parallel()

		prs, features := setup(t)
		file := filepath.Join(features, "new.feature")
		writeFile(t, file, "Feature: new\n\n  @PRS-ERR-999 @inprocess\n  Scenario: typo in the id\n    Given nothing\n")
		err := verify.CheckCoverage(prs, features)
		require.ErrorContains(t, err, `@PRS-ERR-999 at `+filepath.ToSlash(file)+`:4 "typo in the id"`)
		require.NotContains(t, err.Error(), "have no scenario")
	})

	t.Run("a malformed requirement fails", func(t *testing.T) {
		t.Parallel()

		prs, features := setup(t)
		appendTo(t, prs, "- **PRS-ERR-4** short id\n")
		require.ErrorContains(t, verify.CheckCoverage(prs, features), "malformed requirement")
	})
}
