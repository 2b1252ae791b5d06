package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CopyInputs copies into dst everything that Checks(dst) reads from the repository at
// root: go.mod and go.sum (so that `go tool ogen` finds the module's pin),
// generators/ogen.yml, spec/, gen/ and the *.feature files under features/. Tests and the
// spec-authority scenarios edit such a copy to prove that a check fails.
func CopyInputs(root, dst string) error {
	for _, f := range []string{"go.mod", "go.sum", filepath.Join("generators", "ogen.yml")} {
		if err := copyFile(filepath.Join(root, f), filepath.Join(dst, f)); err != nil {
			return fmt.Errorf("copy inputs: %w", err)
		}
	}
	for _, dir := range []struct {
		name string
		ext  string // copy only files with this extension; "" copies every file
	}{
		{name: "spec"},
		{name: "gen"},
		{name: "features", ext: ".feature"},
	} {
		src := filepath.Join(root, dir.name)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || (dir.ext != "" && filepath.Ext(path) != dir.ext) {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			return copyFile(path, filepath.Join(dst, rel))
		})
		if err != nil && !(dir.name == "features" && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("copy inputs: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
