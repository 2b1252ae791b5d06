package traceability_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/generators/traceability"
)

const fixtures = "../testdata/traceability"

func TestParsePRS(t *testing.T) {
	t.Parallel()

	cat, err := traceability.ParsePRSFile(filepath.Join(fixtures, "prs.md"))
	require.NoError(t, err)
	require.Len(t, cat.Areas, 2)

	hlt := cat.Areas[0]
	require.Equal(t, "HLT", hlt.Code)
	require.Equal(t, "health", hlt.Title)
	require.Equal(t, []traceability.Requirement{
		{ID: "PRS-HLT-001", Statement: "Health answers `status: ok`.", Line: 7},
		{ID: "PRS-HLT-002", Statement: "Readiness checks the database, over a continuation line.", Line: 8},
		{ID: "PRS-HLT-003", Statement: "*retired* Metrics moved to PRS-HLT-001.", Line: 10, Retired: true},
	}, hlt.Requirements)
	require.Equal(t, "ERR", cat.Areas[1].Code)
	require.Len(t, cat.Areas[1].Requirements, 2)
}

func TestParsePRSRealFile(t *testing.T) {
	t.Parallel()

	cat, err := traceability.ParsePRSFile("../../spec/prs.md")
	require.NoError(t, err)
	require.NotEmpty(t, cat.Areas)
	for _, a := range cat.Areas {
		require.NotEmpty(t, a.Requirements, "area %s", a.Code)
	}
}

func TestParsePRSErrors(t *testing.T) {
	t.Parallel()

	src := strings.Join([]string{
		"- **PRS-HLT-001** before any area",
		"## HLT — health",
		"- **PRS-HLT-001** fine",
		"- **PRS-HLT-001** again",
		"- **PRS-ERR-001** wrong area",
		"- **PRS-HLT-2** short number",
		"- PRS-HLT-003 no bold",
		"## HLT — health again",
	}, "\n")
	_, err := traceability.ParsePRS(strings.NewReader(src), "prs.md")
	require.Error(t, err)
	for _, want := range []string{
		"prs.md:1: requirement PRS-HLT-001 is outside any",
		"prs.md:4: requirement PRS-HLT-001 already defined on line 3",
		"prs.md:5: requirement PRS-ERR-001 is in area HLT",
		"prs.md:6: malformed requirement",
		"prs.md:7: malformed requirement",
		"prs.md:8: area HLT already started on line 2",
	} {
		require.ErrorContains(t, err, want)
	}
}

func TestParseFeatures(t *testing.T) {
	t.Parallel()

	dir := filepath.Join(fixtures, "features")
	scenarios, err := traceability.ParseFeatures(dir)
	require.NoError(t, err)

	file := func(name string) string { return filepath.ToSlash(filepath.Join(dir, name)) }
	require.Equal(t, []traceability.Scenario{
		{File: file("errors/errors.feature"), Line: 6, Name: "a problem body", Tags: []string{"@PRS-ERR-001"}},
		{File: file("errors/errors.feature"), Line: 10, Name: "unknown path <path>", Tags: []string{"@PRS-ERR-002"}},
		{File: file("health.feature"), Line: 4, Name: "health answers ok", Tags: []string{"@PRS-HLT-001", "@inprocess"}},
		{File: file("health.feature"), Line: 9, Name: "ready when the database answers", Tags: []string{"@PRS-HLT-001", "@PRS-HLT-002", "@inprocess"}},
	}, scenarios)
}

func TestParseFeatureSyntaxError(t *testing.T) {
	t.Parallel()

	_, err := traceability.ParseFeature(strings.NewReader("Feature: x\n  Scenario: y\n    Given a\n  nonsense\n"), "bad.feature")
	require.ErrorContains(t, err, "parse bad.feature")
	require.ErrorContains(t, err, "(4:3)")
}

func TestParseFeaturesMissingDir(t *testing.T) {
	t.Parallel()

	scenarios, err := traceability.ParseFeatures(filepath.Join(t.TempDir(), "absent"))
	require.NoError(t, err)
	require.Empty(t, scenarios)
}

func TestTrace(t *testing.T) {
	t.Parallel()

	cat, err := traceability.ParsePRSFile(filepath.Join(fixtures, "prs.md"))
	require.NoError(t, err)

	t.Run("fixtures cover every live requirement", func(t *testing.T) {
		t.Parallel()

		scenarios, err := traceability.ParseFeatures(filepath.Join(fixtures, "features"))
		require.NoError(t, err)
		tr := traceability.NewTrace(cat, scenarios)
		require.NoError(t, tr.Err())
		require.Empty(t, tr.Uncovered())
		covered, total := tr.Counts("")
		require.Equal(t, 4, covered)
		require.Equal(t, 4, total)
		require.Len(t, tr.Scenarios["PRS-HLT-001"], 2)
	})

	t.Run("gaps and stray tags are all reported", func(t *testing.T) {
		t.Parallel()

		tr := traceability.NewTrace(cat, []traceability.Scenario{
			{File: "a.feature", Line: 3, Name: "one", Tags: []string{"@PRS-HLT-001", "@PRS-HLT-099", "@prs-err-1", "@smoke"}},
			{File: "a.feature", Line: 9, Name: "two", Tags: []string{"@PRS-HLT-003"}},
		})
		require.Equal(t, []string{"PRS-HLT-002", "PRS-ERR-001", "PRS-ERR-002"}, ids(tr.Uncovered()))
		err := tr.Err()
		require.Error(t, err)
		for _, want := range []string{
			"3 of 4 requirements have no scenario",
			"PRS-HLT-002 (../testdata/traceability/prs.md:8)",
			"PRS-ERR-001 (", "PRS-ERR-002 (",
			`@PRS-HLT-099 at a.feature:3 "one"`,
			`@prs-err-1 at a.feature:3 "one"`,
			`@PRS-HLT-003 at a.feature:9 "two"`,
		} {
			require.ErrorContains(t, err, want)
		}
		require.NotContains(t, err.Error(), "@smoke")
	})
}

func ids(reqs []traceability.Requirement) []string {
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, r.ID)
	}
	return out
}

// TestRenderMarkdown compares the matrix of the fixtures with a golden file; run with
// UPDATE_GOLDEN=1 to refresh it.
func TestRenderMarkdown(t *testing.T) {
	t.Parallel()

	cat, err := traceability.ParsePRSFile(filepath.Join(fixtures, "prs.md"))
	require.NoError(t, err)
	scenarios, err := traceability.ParseFeatures(filepath.Join(fixtures, "features"))
	require.NoError(t, err)
	scenarios = append(scenarios, traceability.Scenario{File: "x.feature", Line: 2, Name: "stray", Tags: []string{"@PRS-XXX-001"}})
	tr := traceability.NewTrace(cat, scenarios)

	render := func() []byte {
		var buf bytes.Buffer
		require.NoError(t, traceability.RenderMarkdown(&buf, tr, traceability.MarkdownOptions{
			Command: "go run ./generators/cmd/conformance",
			Sources: "`prs.md` and `features/`",
			Link: func(r traceability.Ref) string {
				return "../" + strings.TrimPrefix(r.File, fixtures+"/") + "#L" + strconv.Itoa(r.Line)
			},
		}))
		return buf.Bytes()
	}
	got := render()
	require.Equal(t, got, render(), "output is deterministic")

	golden := filepath.Join(fixtures, "conformance.golden.md")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}
