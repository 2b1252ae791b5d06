package traceability

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// tagPrefix marks a tag that names a requirement. Any tag starting with it, in any case,
// must be exactly a live id of the catalog.
const tagPrefix = "@PRS-"

// Ref points at one scenario.
type Ref struct {
	// File is the feature file, as in Scenario.File.
	File string
	// Line is the 1-based line of the scenario in File.
	Line int
	// Name is the scenario's name.
	Name string
}

// String formats the reference as `file:line "name"`.
func (r Ref) String() string { return fmt.Sprintf("%s:%d %q", r.File, r.Line, r.Name) }

// Trace maps every requirement of a catalog to the scenarios tagged with its id.
type Trace struct {
	// Catalog holds the requirements that were traced.
	Catalog *Catalog
	// Scenarios maps a requirement id to the scenarios tagged with it, sorted by file and
	// line. An id without scenarios has no entry.
	Scenarios map[string][]Ref
	// Unknown maps every PRS-looking tag that names no requirement of the catalog to the
	// scenarios carrying it.
	Unknown map[string][]Ref
	// Retired maps every tag that names a retired requirement to the scenarios carrying it.
	Retired map[string][]Ref
}

// NewTrace matches scenarios against the catalog's requirements.
func NewTrace(cat *Catalog, scenarios []Scenario) *Trace {
	t := &Trace{
		Catalog:   cat,
		Scenarios: map[string][]Ref{},
		Unknown:   map[string][]Ref{},
		Retired:   map[string][]Ref{},
	}
	byID := map[string]Requirement{}
	for _, a := range cat.Areas {
		for _, r := range a.Requirements {
			byID[r.ID] = r
		}
	}
	for _, s := range scenarios {
		ref := Ref{File: s.File, Line: s.Line, Name: s.Name}
		for _, tag := range s.Tags {
			if !strings.HasPrefix(strings.ToUpper(tag), tagPrefix) {
				continue
			}
			req, ok := byID[strings.TrimPrefix(tag, "@")]
			switch {
			case !ok:
				t.Unknown[tag] = append(t.Unknown[tag], ref)
			case req.Retired:
				t.Retired[tag] = append(t.Retired[tag], ref)
			default:
				t.Scenarios[req.ID] = append(t.Scenarios[req.ID], ref)
			}
		}
	}
	for _, m := range []map[string][]Ref{t.Scenarios, t.Unknown, t.Retired} {
		for k, refs := range m {
			slices.SortFunc(refs, compareRefs)
			m[k] = slices.Compact(refs)
		}
	}
	return t
}

func compareRefs(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Name, b.Name))
}

// Uncovered returns the live requirements that no scenario is tagged with, in catalog
// order.
func (t *Trace) Uncovered() []Requirement {
	var out []Requirement
	for _, a := range t.Catalog.Areas {
		for _, r := range a.Requirements {
			if !r.Retired && len(t.Scenarios[r.ID]) == 0 {
				out = append(out, r)
			}
		}
	}
	return out
}

// Counts returns how many live requirements of the area with the given code (every area
// when code is empty) have a scenario, and how many live requirements there are.
func (t *Trace) Counts(code string) (covered, total int) {
	for _, a := range t.Catalog.Areas {
		if code != "" && a.Code != code {
			continue
		}
		for _, r := range a.Requirements {
			if r.Retired {
				continue
			}
			total++
			if len(t.Scenarios[r.ID]) > 0 {
				covered++
			}
		}
	}
	return covered, total
}

// Err returns nil when every live requirement has a scenario and every PRS tag names a
// live requirement; otherwise it lists every uncovered id and every offending tag.
func (t *Trace) Err() error {
	var errs []error
	if missing := t.Uncovered(); len(missing) > 0 {
		_, total := t.Counts("")
		lines := make([]string, 0, len(missing))
		for _, r := range missing {
			lines = append(lines, fmt.Sprintf("  %s (%s:%d)", r.ID, t.Catalog.Path, r.Line))
		}
		errs = append(errs, fmt.Errorf("%d of %d requirements have no scenario tagged with their id:\n%s",
			len(missing), total, strings.Join(lines, "\n")))
	}
	if len(t.Unknown) > 0 {
		errs = append(errs, fmt.Errorf("tags that name no requirement in %s:\n%s", t.Catalog.Path, tagLines(t.Unknown)))
	}
	if len(t.Retired) > 0 {
		errs = append(errs, fmt.Errorf("tags that name a retired requirement:\n%s", tagLines(t.Retired)))
	}
	return errors.Join(errs...)
}

func tagLines(m map[string][]Ref) string {
	var lines []string
	for _, tag := range sortedKeys(m) {
		for _, ref := range m[tag] {
			lines = append(lines, fmt.Sprintf("  %s at %s", tag, ref))
		}
	}
	return strings.Join(lines, "\n")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
