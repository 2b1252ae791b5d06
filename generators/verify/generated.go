package verify

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nexixai/agentos/generators"
)

// CheckGenerated regenerates every service of generators.Services with the module's pinned
// ogen (`go tool ogen`, run in repoRoot/generators with the arguments of its go:generate
// line) into a temporary directory and compares the result with repoRoot/gen/<package>.
// It fails on every file that differs, is missing from gen/ or is not produced by ogen,
// and on every directory in gen/ that no service generates.
//
// repoRoot must be a module root holding go.mod, go.sum, generators/ogen.yml, spec/ and
// gen/.
func CheckGenerated(repoRoot string) error {
	tmp, err := os.MkdirTemp("", "agentos-verify-gen-")
	if err != nil {
		return fmt.Errorf("create scratch directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	genDir := filepath.Join(repoRoot, "gen")
	var (
		errs     []error
		problems []string
	)
	for _, svc := range generators.Services {
		fresh := filepath.Join(tmp, svc.Package)
		if err := generate(repoRoot, svc, fresh); err != nil {
			errs = append(errs, err)
			continue
		}
		committed := filepath.Join(genDir, svc.Package)
		if _, err := os.Stat(committed); errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, fmt.Sprintf("gen/%s: missing", svc.Package))
			continue
		}
		diffs, err := compareTrees(fresh, committed, "gen/"+svc.Package)
		if err != nil {
			return err
		}
		problems = append(problems, diffs...)
	}

	entries, err := os.ReadDir(genDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read generated code: %w", err)
	}
	for _, e := range entries {
		if !slices.ContainsFunc(generators.Services, func(s generators.Service) bool { return s.Package == e.Name() }) {
			problems = append(problems, fmt.Sprintf("gen/%s: not generated from any spec in generators.Services", e.Name()))
		}
	}

	if len(problems) > 0 {
		errs = append(errs, fmt.Errorf("gen/ differs from a fresh generation; run `make generate` (go generate ./generators/...) and commit the result:\n%s",
			strings.Join(problems, "\n")))
	}
	return errors.Join(errs...)
}

// generate runs the service's go:generate command with target as the output directory.
func generate(repoRoot string, svc generators.Service, target string) error {
	args := append([]string{"tool", "ogen"}, svc.OgenArgs(target, "../spec")...)
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(repoRoot, "generators")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("generate %s: go %s: %w\n%s", svc.Package, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// compareTrees lists every file under got (the committed tree) that differs from the
// same file under want (the fresh generation), is missing, or is extra; display prefixes
// the paths it reports.
func compareTrees(want, got, display string) ([]string, error) {
	wantFiles, err := listFiles(want)
	if err != nil {
		return nil, err
	}
	gotFiles, err := listFiles(got)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, rel := range wantFiles {
		name := display + "/" + rel
		if _, ok := slices.BinarySearch(gotFiles, rel); !ok {
			problems = append(problems, name+": missing")
			continue
		}
		a, err := os.ReadFile(filepath.Join(want, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(got, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(a, b) {
			problems = append(problems, fmt.Sprintf("%s: differs from a fresh generation from line %d", name, firstDifferentLine(a, b)))
		}
	}
	for _, rel := range gotFiles {
		if _, ok := slices.BinarySearch(wantFiles, rel); !ok {
			problems = append(problems, display+"/"+rel+": not produced by ogen")
		}
	}
	return problems, nil
}

// listFiles returns the slash paths, relative to dir, of every non-directory under dir,
// sorted.
func listFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.Sort(files)
	return files, nil
}

// firstDifferentLine returns the 1-based number of the first line where a and b differ.
func firstDifferentLine(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return bytes.Count(a[:i], []byte("\n")) + 1
}
