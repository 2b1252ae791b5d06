package traceability

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	gherkin "github.com/cucumber/gherkin/go/v42"
	messages "github.com/cucumber/messages/go/v34"
)

// Scenario is one Gherkin Scenario or Scenario Outline with every tag that applies to it.
type Scenario struct {
	// File is the feature file: the features directory as given joined with the file's
	// path below it, with forward slashes.
	File string
	// Line is the 1-based line of the Scenario keyword.
	Line int
	// Name is the scenario's name.
	Name string
	// Tags are the tags of the scenario, its Feature, its Rule and its Examples blocks,
	// each with its leading `@`, sorted and without duplicates.
	Tags []string
}

// ParseFeatures parses every *.feature file below dir, in lexical path order. A dir that
// does not exist holds no scenarios: before the first feature is written there are none,
// and every requirement is reported uncovered.
func ParseFeatures(dir string) ([]Scenario, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var scenarios []Scenario
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".feature" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		found, err := ParseFeature(f, filepath.ToSlash(path))
		if err != nil {
			return err
		}
		scenarios = append(scenarios, found...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read features: %w", err)
	}
	return scenarios, nil
}

// ParseFeature parses one feature file read from r; file becomes Scenario.File.
func ParseFeature(r io.Reader, file string) ([]Scenario, error) {
	doc, err := gherkin.ParseGherkinDocument(r, (&messages.Incrementing{}).NewId)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	if doc.Feature == nil {
		return nil, nil // an empty file or one holding only comments
	}
	feature := tagNames(doc.Feature.Tags)
	var out []Scenario
	add := func(s *messages.Scenario, inherited []string) {
		tags := slices.Concat(inherited, tagNames(s.Tags))
		for _, ex := range s.Examples {
			tags = append(tags, tagNames(ex.Tags)...)
		}
		slices.Sort(tags)
		out = append(out, Scenario{
			File: file,
			Line: int(s.Location.Line),
			Name: strings.TrimSpace(s.Name),
			Tags: slices.Compact(tags),
		})
	}
	for _, child := range doc.Feature.Children {
		switch {
		case child.Scenario != nil:
			add(child.Scenario, feature)
		case child.Rule != nil:
			rule := slices.Concat(feature, tagNames(child.Rule.Tags))
			for _, rc := range child.Rule.Children {
				if rc.Scenario != nil {
					add(rc.Scenario, rule)
				}
			}
		}
	}
	return out, nil
}

func tagNames(tags []*messages.Tag) []string {
	names := make([]string, 0, len(tags))
	for _, t := range tags {
		names = append(names, t.Name)
	}
	return names
}
