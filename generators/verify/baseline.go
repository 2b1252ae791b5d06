package verify

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// RefreshBaseline replaces baseDir with a copy of every OpenAPI file (*.yaml, *.yml,
// *.json) under specDir, keeping their relative paths so that references such as
// components/common.yaml resolve inside the copy; baseDir itself is skipped when it lies
// under specDir. It is `make baseline`: run it when a breaking change is intended, i.e.
// when a new major API version starts.
func RefreshBaseline(specDir, baseDir string) error {
	absSpec, err := filepath.Abs(specDir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", specDir, err)
	}
	absBase, err := filepath.Abs(baseDir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", baseDir, err)
	}
	if within(absSpec, absBase) {
		return fmt.Errorf("refresh baseline: %s lies inside %s", specDir, baseDir)
	}

	if err := os.RemoveAll(absBase); err != nil {
		return fmt.Errorf("clear baseline: %w", err)
	}
	err = filepath.WalkDir(absSpec, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == absBase {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		rel, err := filepath.Rel(absSpec, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(absBase, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("copy spec to baseline: %w", err)
	}
	return nil
}

// within reports whether path is dir or lies below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
