// Package policyeval loads and evaluates AgentOS's OPA Rego policies: a bundle of *.rego
// modules and data files (JSON or YAML) from a directory or the embedded default in
// policy/, compiled once into a prepared query and evaluated per decision. An Engine
// hot-reloads a directory; a bundle that does not compile is rejected and the previous
// one keeps serving.
package policyeval

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"gopkg.in/yaml.v3"
)

// Bundle is a parsed set of policy files.
type Bundle struct {
	// Modules are the parsed Rego modules by file path; with tests included, *_test.rego
	// files are among them.
	Modules map[string]*ast.Module
	// Data is the merged data document: a file a/b/data.json (or data.yaml) is placed
	// at data.a.b, as OPA bundles do.
	Data map[string]any
	// Revision is the first 16 hex digits of a SHA-256 over every loaded file's path
	// and content; it changes whenever any loaded file does.
	Revision string
}

// IsTestFile reports whether name is a Rego unit-test file.
func IsTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// LoadBundle reads every *.rego file and every data.json, data.yaml or data.yml under
// fsys (hidden files and directories are skipped). Test files are loaded only when
// withTests is set. Parse errors name the file and line.
func LoadBundle(fsys fs.FS, withTests bool) (*Bundle, error) {
	files, rev, err := readFiles(fsys, withTests)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Modules: map[string]*ast.Module{}, Data: map[string]any{}, Revision: rev}
	for _, f := range files {
		if path.Ext(f.path) == ".rego" {
			m, err := ast.ParseModuleWithOpts(f.path, string(f.data), ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				return nil, err
			}
			b.Modules[f.path] = m
			continue
		}
		doc, err := decodeData(f.path, f.data)
		if err != nil {
			return nil, err
		}
		var prefix []string
		if dir := path.Dir(f.path); dir != "." {
			prefix = strings.Split(dir, "/")
		}
		if err := mergeAt(b.Data, prefix, doc, f.path); err != nil {
			return nil, err
		}
	}
	if len(b.Modules) == 0 {
		return nil, errors.New("policy bundle has no Rego modules")
	}
	return b, nil
}

// Revision returns the revision LoadBundle would give fsys's files, without parsing them.
func Revision(fsys fs.FS) (string, error) {
	_, rev, err := readFiles(fsys, false)
	return rev, err
}

type bundleFile struct {
	path string
	data []byte
}

func readFiles(fsys fs.FS, withTests bool) ([]bundleFile, string, error) {
	var files []bundleFile
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != "." && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch path.Ext(name) {
		case ".rego":
			if IsTestFile(name) && !withTests {
				return nil
			}
		case ".json", ".yaml", ".yml":
			if strings.TrimSuffix(name, path.Ext(name)) != "data" {
				return nil // only data.json / data.yaml hold data, as in OPA bundles
			}
		default:
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, bundleFile{p, b})
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read policy files: %w", err)
	}
	slices.SortFunc(files, func(a, b bundleFile) int { return strings.Compare(a.path, b.path) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.path, len(f.data))
		h.Write(f.data)
	}
	return files, hex.EncodeToString(h.Sum(nil))[:16], nil
}

func decodeData(p string, data []byte) (map[string]any, error) {
	var doc map[string]any
	if path.Ext(p) == ".json" {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return doc, nil
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	// Round-trip through JSON so YAML maps become map[string]any.
	j, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: data must be an object: %w", p, err)
	}
	return doc, nil
}

// mergeAt merges doc into data at the path prefix; two files that set the same key are
// an error naming the second.
func mergeAt(data map[string]any, prefix []string, doc map[string]any, file string) error {
	node := data
	for _, k := range prefix {
		next, ok := node[k]
		if !ok {
			m := map[string]any{}
			node[k] = m
			node = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: data path %s conflicts with a value from another file", file, strings.Join(prefix, "."))
		}
		node = m
	}
	return mergeInto(node, doc, file, prefix)
}

func mergeInto(dst, src map[string]any, file string, at []string) error {
	for k, v := range src {
		cur, exists := dst[k]
		if !exists {
			dst[k] = v
			continue
		}
		cm, ok1 := cur.(map[string]any)
		vm, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s: data key %s is set by more than one file", file, strings.Join(append(slices.Clone(at), k), "."))
		}
		if err := mergeInto(cm, vm, file, append(slices.Clone(at), k)); err != nil {
			return err
		}
	}
	return nil
}
