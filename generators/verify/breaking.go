package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/checker"
	"github.com/oasdiff/oasdiff/diff"
	"github.com/oasdiff/oasdiff/load"

	"github.com/nexixai/agentos/generators"
)

// versionedPaths selects the paths whose compatibility is guaranteed.
const versionedPaths = `^/v1(/|$)`

// CheckBreaking compares every service document of generators.Services in baseDir (the
// committed baseline, spec/baseline/) with the same document in specDir and fails on
// every change to a `/v1` path that oasdiff rates an error, i.e. what
// `go tool oasdiff breaking --fail-on ERR --match-path '^/v1(/|$)' BASE REV` reports. A
// document without a baseline is new and passes; a document removed from specDir fails.
//
// It uses oasdiff's packages rather than its CLI so that it needs no module around the
// directories; both read OpenAPI 3.1 and resolve the relative $refs to
// components/common.yaml.
func CheckBreaking(baseDir, specDir string) error {
	var (
		errs     []error
		problems []string
	)
	for _, svc := range generators.Services {
		base := filepath.Join(baseDir, svc.SpecFile())
		if _, err := os.Stat(base); errors.Is(err, fs.ErrNotExist) {
			continue // a new document: nothing to break yet
		}
		rev := filepath.Join(specDir, svc.SpecFile())
		if _, err := os.Stat(rev); errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, fmt.Sprintf("%s: removed, but %s still has it", rev, base))
			continue
		}
		changes, err := breakingChanges(base, rev)
		if err != nil {
			errs = append(errs, fmt.Errorf("compare %s with %s: %w", rev, base, err))
			continue
		}
		l := checker.NewDefaultLocalizer()
		for _, c := range changes {
			if c.GetLevel() < checker.ERR {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %s %s: %s [%s]",
				svc.SpecFile(), c.GetOperation(), c.GetPath(), c.GetUncolorizedText(l), c.GetId()))
		}
	}
	if len(problems) > 0 {
		errs = append(errs, fmt.Errorf("non-additive /v1 changes against %s (refresh the baseline only for a new major version):\n%s",
			baseDir, strings.Join(problems, "\n")))
	}
	return errors.Join(errs...)
}

// breakingChanges diffs two documents as `oasdiff breaking` does with its default flags,
// restricted to the versioned paths.
func breakingChanges(base, rev string) (checker.Changes, error) {
	s1, err := loadSpec(base)
	if err != nil {
		return nil, fmt.Errorf("load base: %w", err)
	}
	s2, err := loadSpec(rev)
	if err != nil {
		return nil, fmt.Errorf("load revision: %w", err)
	}
	cfg := diff.NewConfig()
	cfg.MatchPath = versionedPaths
	cfg.MatchInlineRefs = true
	d, sources, err := diff.GetWithOperationsSourcesMap(cfg, s1, s2)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	return checker.CheckBackwardCompatibilityUntilLevel(checker.NewConfig(checker.GetAllChecks()), d, sources, checker.ERR), nil
}

// loadSpec loads one document and the files it references, with a loader of its own so
// that the base and revision documents never share cached references.
func loadSpec(path string) (*load.SpecInfo, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	// kin-openapi's default reader caches every file by URI for the life of the process,
	// so a document edited between two checks would be read stale; read local files only,
	// and afresh.
	loader.ReadFromURIFunc = openapi3.ReadFromFile
	loader.IncludeOrigin = true
	spec, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, err
	}
	info := &load.SpecInfo{Url: path, Spec: spec}
	if spec.Info != nil {
		info.Version = spec.Info.Version
	}
	infos, err := load.WithLowercaseHeaders()(loader, []*load.SpecInfo{info})
	if err != nil {
		return nil, err
	}
	return infos[0], nil
}
