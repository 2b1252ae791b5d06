// Package traceability traces the product requirements of spec/prs.md to the Gherkin
// scenarios under features/ that carry their ids as tags.
//
// A requirement is a line `- **PRS-AREA-NNN** statement` under a `## AREA — title`
// heading; a statement that starts with `*retired*` marks a retired id, which needs no
// scenario and must not be used as a tag any more. A scenario is covered by a tag on
// itself, on its Feature, on its Rule or on one of its Examples blocks.
//
// generators/cmd/conformance renders a Trace as docs/conformance.md, and
// generators/verify.CheckCoverage fails on its gaps.
package traceability

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Requirement is one requirement line of prs.md.
type Requirement struct {
	// ID is the stable id, e.g. PRS-HLT-001.
	ID string
	// Statement is the text after the id, continuation lines joined with single spaces.
	Statement string
	// Line is the 1-based line of the requirement in prs.md.
	Line int
	// Retired reports whether the statement starts with `*retired*`.
	Retired bool
}

// Area is one `## AREA — title` section of prs.md.
type Area struct {
	// Code is the area code used in the ids of its requirements, e.g. HLT.
	Code string
	// Title is the heading text after the dash.
	Title string
	// Requirements are the area's requirements in document order.
	Requirements []Requirement
}

// Catalog is a parsed prs.md.
type Catalog struct {
	// Path is the file the catalog was read from, as given; it prefixes line numbers in
	// messages.
	Path string
	// Areas are the areas in document order.
	Areas []Area
}

var (
	areaHeading    = regexp.MustCompile(`^##\s+([A-Z][A-Z0-9]*)\s+[—–-]\s+(\S.*?)\s*$`)
	requirementRow = regexp.MustCompile(`^- \*\*PRS-([A-Z][A-Z0-9]*)-(\d{3})\*\*\s+(\S.*?)\s*$`)
	// requirementish matches every line that tries to be a requirement, so that a typo
	// in one is an error instead of a requirement silently dropped.
	requirementish = regexp.MustCompile(`(?i)^\s*[-*+]\s+\W*PRS-`)
	continuation   = regexp.MustCompile(`^\s{2,}\S`)
)

// ParsePRSFile reads and parses the requirements file at path.
func ParsePRSFile(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open requirements: %w", err)
	}
	defer func() { _ = f.Close() }()
	return ParsePRS(f, path)
}

// ParsePRS parses requirements from r; name is used in messages. It reports every
// malformed requirement line, requirement outside an area, id whose area does not match
// its heading, and duplicate id or area.
func ParsePRS(r io.Reader, name string) (*Catalog, error) {
	cat := &Catalog{Path: name}
	var (
		errs      []error
		area      *Area
		last      *Requirement // the requirement that continuation lines extend
		seenIDs   = map[string]int{}
		seenAreas = map[string]int{}
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if last != nil && continuation.MatchString(line) && !requirementish.MatchString(line) {
			last.Statement += " " + strings.TrimSpace(line)
			last.Retired = isRetired(last.Statement)
			continue
		}
		last = nil

		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "# ") {
			area = nil
			m := areaHeading.FindStringSubmatch(line)
			if m == nil {
				continue // a heading that is not an area, e.g. the title
			}
			if first, ok := seenAreas[m[1]]; ok {
				errs = append(errs, fmt.Errorf("%s:%d: area %s already started on line %d", name, n, m[1], first))
			}
			seenAreas[m[1]] = n
			cat.Areas = append(cat.Areas, Area{Code: m[1], Title: m[2]})
			area = &cat.Areas[len(cat.Areas)-1]
			continue
		}

		if !requirementish.MatchString(line) {
			continue
		}
		m := requirementRow.FindStringSubmatch(line)
		if m == nil {
			errs = append(errs, fmt.Errorf("%s:%d: malformed requirement, want `- **PRS-AREA-NNN** statement`: %s", name, n, line))
			continue
		}
		id := "PRS-" + m[1] + "-" + m[2]
		switch {
		case area == nil:
			errs = append(errs, fmt.Errorf("%s:%d: requirement %s is outside any `## AREA — title` section", name, n, id))
			continue
		case area.Code != m[1]:
			errs = append(errs, fmt.Errorf("%s:%d: requirement %s is in area %s", name, n, id, area.Code))
		}
		if first, ok := seenIDs[id]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: requirement %s already defined on line %d", name, n, id, first))
			continue
		}
		seenIDs[id] = n
		area.Requirements = append(area.Requirements, Requirement{ID: id, Statement: m[3], Line: n, Retired: isRetired(m[3])})
		last = &area.Requirements[len(area.Requirements)-1]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cat, nil
}

func isRetired(statement string) bool {
	return strings.HasPrefix(strings.ToLower(statement), "*retired*")
}
