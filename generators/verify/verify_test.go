package verify_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/generators/verify"
)

func TestCopyInputs(t *testing.T) {
	t.Parallel()

	src := t.TempDir()
	for _, f := range []string{
		"go.mod", "go.sum", "generators/ogen.yml", "generators/generate.go",
		"spec/prs.md", "spec/components/common.yaml", "gen/xapi/oas_x_gen.go",
		"features/a.feature", "features/sub/b.feature", "features/steps_test.go",
	} {
		writeFile(t, filepath.Join(src, f), f)
	}
	dst := t.TempDir()
	require.NoError(t, verify.CopyInputs(src, dst))

	for _, f := range []string{
		"go.mod", "go.sum", "generators/ogen.yml", "spec/prs.md", "spec/components/common.yaml",
		"gen/xapi/oas_x_gen.go", "features/a.feature", "features/sub/b.feature",
	} {
		data, err := os.ReadFile(filepath.Join(dst, f))
		require.NoError(t, err, f)
		require.Equal(t, f, string(data))
	}
	require.NoFileExists(t, filepath.Join(dst, "generators/generate.go"))
	require.NoFileExists(t, filepath.Join(dst, "features/steps_test.go"))

	require.NoError(t, os.RemoveAll(filepath.Join(src, "features")))
	require.NoError(t, verify.CopyInputs(src, t.TempDir()), "a tree without features/ copies")
	require.NoError(t, os.RemoveAll(filepath.Join(src, "gen")))
	require.ErrorContains(t, verify.CopyInputs(src, t.TempDir()), "copy inputs")
}

// TestChecksOnCopy runs every check but coverage (this tree's features/ may lag
// spec/prs.md) on a copy of the repository, as `make verify` does on the real one.
func TestChecksOnCopy(t *testing.T) {
	t.Parallel()

	root := copyRepo(t)
	var names []string
	for _, c := range verify.Checks(root) {
		names = append(names, c.Name)
		if c.Name == "coverage" {
			continue
		}
		require.NoError(t, c.Run(), c.Name)
	}
	require.Equal(t, []string{"lint", "generated", "headers", "breaking", "coverage"}, names)
}
