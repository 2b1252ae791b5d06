package features

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/generators/verify"
)

// repoRoot is the module root, found from this file's location.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the repository")
	}
	root := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("no go.mod at %s: %w", root, err)
	}
	return root, nil
}

func (w *world) registerSpec(sc *godog.ScenarioContext) {
	sc.Step(`^a scratch copy of the spec and generated code$`, func() error {
		root, err := repoRoot()
		if err != nil {
			return err
		}
		w.scratch, err = os.MkdirTemp(w.env.tmpDir(), "scratch")
		if err != nil {
			return err
		}
		return verify.CopyInputs(root, w.scratch)
	})
	check := func(name string, run func() error) func() error {
		return func() error {
			if err := run(); err != nil {
				return fmt.Errorf("%s check failed on an untouched copy: %w", name, err)
			}
			return nil
		}
	}
	fails := func(run func() error) func(string) error {
		return func(naming string) error {
			err := run()
			if err == nil {
				return errors.New("the check passed, want a failure")
			}
			if !strings.Contains(err.Error(), naming) {
				return fmt.Errorf("the failure does not name %q: %v", naming, err)
			}
			return nil
		}
	}
	generated := func() error { return verify.CheckGenerated(w.scratch) }
	headers := func() error { return verify.CheckHeaders(filepath.Join(w.scratch, "gen")) }
	breaking := func() error {
		return verify.CheckBreaking(filepath.Join(w.scratch, "spec", "baseline"), filepath.Join(w.scratch, "spec"))
	}
	coverage := func() error {
		return verify.CheckCoverage(filepath.Join(w.scratch, "spec", "prs.md"), filepath.Join(w.scratch, "features"))
	}
	sc.Step(`^the generated-code check passes$`, check("generated-code", generated))
	sc.Step(`^the generated-code check fails naming "([^"]*)"$`, fails(generated))
	sc.Step(`^the generated-header check passes$`, check("generated-header", headers))
	sc.Step(`^the generated-header check fails naming "([^"]*)"$`, fails(headers))
	sc.Step(`^the breaking-change check passes$`, check("breaking-change", breaking))
	sc.Step(`^the breaking-change check fails$`, func() error { return fails(breaking)("") })
	sc.Step(`^the coverage check passes$`, check("coverage", coverage))
	sc.Step(`^the coverage check fails naming "([^"]*)"$`, fails(coverage))

	sc.Step(`^I append a line to "([^"]*)" in the copy$`, func(rel string) error {
		f, err := os.OpenFile(filepath.Join(w.scratch, rel), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString("\n// edited by hand\n")
		return err
	})
	sc.Step(`^I add a file "([^"]*)" without the generated header in the copy$`, func(rel string) error {
		return os.WriteFile(filepath.Join(w.scratch, rel), []byte("package orchestratorapi\n\nfunc HandWritten() {}\n"), 0o644)
	})
	sc.Step(`^I remove the required field "([^"]*)" from the "([^"]*)" schema in the copy$`, func(field, schema string) error {
		return removeRequiredField(filepath.Join(w.scratch, "spec", "components", "common.yaml"), schema, field)
	})
	sc.Step(`^I add the requirement "([^"]*)" to the copy's prs\.md$`, func(id string) error {
		path := filepath.Join(w.scratch, "spec", "prs.md")
		area := strings.Split(id, "-")[1]
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = fmt.Fprintf(f, "\n## %s — scratch\n\n- **%s** A requirement nobody tests.\n", area, id)
		return err
	})
}

// removeRequiredField deletes field from the required list and the properties of a schema
// in an OpenAPI YAML file, editing the text as a spec author would.
func removeRequiredField(path, schema, field string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	start := -1
	for i, l := range lines {
		if l == "    "+schema+":" {
			start = i
			break
		}
	}
	if start < 0 {
		return fmt.Errorf("schema %s not found in %s", schema, path)
	}
	var out []string
	out = append(out, lines[:start+1]...)
	i := start + 1
	removed := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "    ") && !strings.HasPrefix(l, "     ") {
			break // next schema
		}
		trimmed := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(trimmed, "required: ["):
			items := strings.Split(strings.Trim(strings.TrimPrefix(trimmed, "required: "), "[]"), ",")
			var keep []string
			for _, it := range items {
				if strings.TrimSpace(it) != field {
					keep = append(keep, strings.TrimSpace(it))
				}
			}
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			out = append(out, indent+"required: ["+strings.Join(keep, ", ")+"]")
			removed++
			continue
		case trimmed == field+":":
			indent := len(l) - len(strings.TrimLeft(l, " "))
			j := i + 1
			for j < len(lines) && (strings.TrimSpace(lines[j]) == "" || len(lines[j])-len(strings.TrimLeft(lines[j], " ")) > indent) {
				j++
			}
			i = j - 1
			removed++
			continue
		}
		out = append(out, l)
	}
	out = append(out, lines[i:]...)
	if removed != 2 {
		return fmt.Errorf("removed %d of 2 places for %s.%s", removed, schema, field)
	}
	return os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644)
}
