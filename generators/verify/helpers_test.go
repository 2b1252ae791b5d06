package verify_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/generators/verify"
)

// repoRoot is the repository root as seen from this package's directory.
const repoRoot = "../.."

// copyRepo copies what the checks read from the real tree into a fresh temporary
// directory and returns it.
func copyRepo(t *testing.T) string {
	t.Helper()

	root := t.TempDir()
	require.NoError(t, verify.CopyInputs(repoRoot, root))
	return root
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()

	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		copyFile(t, path, filepath.Join(dst, rel))
		return nil
	})
	require.NoError(t, err)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()

	data, err := os.ReadFile(src)
	require.NoError(t, err)
	writeFile(t, dst, string(data))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()

	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// edit replaces old, which must occur in the file at path exactly once, with new.
func edit(t *testing.T, path, old, new string) {
	t.Helper()

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(data), old), "%s must hold %q once", path, old)
	writeFile(t, path, strings.Replace(string(data), old, new, 1))
}

// appendTo appends text to the file at path.
func appendTo(t *testing.T, path, text string) {
	t.Helper()

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	writeFile(t, path, string(data)+text)
}
