// Command conformance traces the PRS requirements of spec/prs.md to the Gherkin
// scenarios under features/ that are tagged with their ids, and writes the matrix to
// docs/conformance.md.
//
// Usage, from the repository root:
//
//	go run ./generators/cmd/conformance            # write docs/conformance.md
//	go run ./generators/cmd/conformance -check     # write nothing; exit 1 on any gap
//
// With -check it lists every requirement that no scenario covers and every PRS-looking
// tag that names no live requirement, and exits 1 when there is any.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nexixai/agentos/generators/traceability"
)

// command is how the header of the generated file says to regenerate it.
const command = "go run ./generators/cmd/conformance"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("conformance", flag.ContinueOnError)
	flags.SetOutput(stderr)
	prsPath := flags.String("prs", "spec/prs.md", "requirements file")
	featuresDir := flags.String("features", "features", "directory searched for *.feature files")
	out := flags.String("out", "docs/conformance.md", "matrix to write")
	check := flags.Bool("check", false, "write nothing; exit 1 listing every uncovered id and unknown PRS tag")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "conformance: unexpected arguments %q\n", flags.Args())
		return 2
	}

	if _, err := os.Stat(*featuresDir); errors.Is(err, fs.ErrNotExist) {
		_, _ = fmt.Fprintf(stderr, "conformance: %s does not exist; tracing without scenarios\n", *featuresDir)
	}
	trace, err := load(*prsPath, *featuresDir)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "conformance: %v\n", err)
		return 1
	}

	if *check {
		if err := trace.Err(); err != nil {
			_, _ = fmt.Fprintf(stderr, "conformance: %v\n", err)
			return 1
		}
		covered, total := trace.Counts("")
		_, _ = fmt.Fprintf(stdout, "conformance: %d/%d requirements covered\n", covered, total)
		return 0
	}

	if err := write(trace, *out, *prsPath, *featuresDir); err != nil {
		_, _ = fmt.Fprintf(stderr, "conformance: %v\n", err)
		return 1
	}
	covered, total := trace.Counts("")
	_, _ = fmt.Fprintf(stdout, "conformance: wrote %s (%d/%d requirements covered)\n", *out, covered, total)
	return 0
}

func load(prsPath, featuresDir string) (*traceability.Trace, error) {
	cat, err := traceability.ParsePRSFile(prsPath)
	if err != nil {
		return nil, err
	}
	scenarios, err := traceability.ParseFeatures(featuresDir)
	if err != nil {
		return nil, err
	}
	return traceability.NewTrace(cat, scenarios), nil
}

// write renders the matrix to out, linking every scenario relative to out's directory,
// and leaves the file untouched when its content would not change.
func write(trace *traceability.Trace, out, prsPath, featuresDir string) error {
	outDir := filepath.Dir(out)
	var buf bytes.Buffer
	err := traceability.RenderMarkdown(&buf, trace, traceability.MarkdownOptions{
		Command: command,
		Sources: fmt.Sprintf("`%s` and `%s/**/*.feature`", filepath.ToSlash(prsPath), filepath.ToSlash(filepath.Clean(featuresDir))),
		Link: func(r traceability.Ref) string {
			return linkTarget(outDir, r.File) + "#L" + strconv.Itoa(r.Line)
		},
	})
	if err != nil {
		return fmt.Errorf("render matrix: %w", err)
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, buf.Bytes()) {
		return nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", outDir, err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write matrix: %w", err)
	}
	return nil
}

// linkTarget returns file as a slash path relative to dir, or file itself when it has no
// such form.
func linkTarget(dir, file string) string {
	absDir, errDir := filepath.Abs(dir)
	absFile, errFile := filepath.Abs(filepath.FromSlash(file))
	if errDir != nil || errFile != nil {
		return file
	}
	rel, err := filepath.Rel(absDir, absFile)
	if err != nil {
		return file
	}
	return filepath.ToSlash(rel)
}
