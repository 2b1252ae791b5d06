package verify

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/nexixai/agentos/generators"
)

const (
	problemMediaType = "application/problem+json"
	// problemSchemaRef is how every reference to the shared Problem schema ends, whether
	// it names components/common.yaml or is local to it.
	problemSchemaRef = "#/components/schemas/Problem"
)

var (
	pathTemplateParam = regexp.MustCompile(`\{([^{}]+)\}`)
	// unversionedPaths may sit outside /v1: Prometheus metrics.
	unversionedPaths = []string{"/metrics"}
)

// Lint builds every service document of generators.Services in specDir as an OpenAPI v3
// model with libopenapi, resolving relative references such as components/common.yaml,
// and checks the house rules:
//
//   - every operation has an operationId unique in its document, a summary and a tag;
//   - every operation has a `default` response whose only content is
//     application/problem+json referencing the shared Problem schema;
//   - every path starts with /v1/ or /.well-known/, except /metrics;
//   - every {name} in a path template is declared as a required path parameter, and
//     every declared path parameter appears in the template.
//
// A YAML file directly in specDir that is not in generators.Services is also a violation:
// it would be neither generated, linted nor diffed. Every violation is reported with its
// document, method and path.
func Lint(specDir string) error {
	var problems []string
	for _, svc := range generators.Services {
		found, err := lintDocument(filepath.Join(specDir, svc.SpecFile()))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", svc.SpecFile(), err))
			continue
		}
		for _, p := range found {
			problems = append(problems, svc.SpecFile()+": "+p)
		}
	}

	entries, err := os.ReadDir(specDir)
	if err != nil {
		return fmt.Errorf("read spec directory: %w", err)
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ext)
		if !slices.ContainsFunc(generators.Services, func(s generators.Service) bool { return s.SpecFile() == e.Name() }) {
			problems = append(problems, fmt.Sprintf("%s: not listed in generators.Services (add %q there and a go:generate line)", e.Name(), name))
		}
	}

	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// lintDocument returns the rule violations of the document at path, or an error when it
// does not build.
func lintDocument(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cfg := datamodel.NewDocumentConfiguration()
	cfg.BasePath = filepath.Dir(abs)
	cfg.SpecFilePath = filepath.Base(abs)
	cfg.AllowFileReferences = true
	cfg.Logger = slog.New(slog.DiscardHandler) // every problem also comes back as an error
	doc, err := libopenapi.NewDocumentWithConfiguration(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build v3 model: %w", err)
	}
	if model == nil {
		return nil, errors.New("build v3 model: not an OpenAPI 3 document")
	}
	return lintModel(&model.Model), nil
}

func lintModel(doc *v3.Document) []string {
	var problems []string
	if doc.Paths == nil || doc.Paths.PathItems == nil {
		return nil
	}
	seenIDs := map[string]string{}
	for path, item := range doc.Paths.PathItems.FromOldest() {
		if !strings.HasPrefix(path, "/v1/") && !strings.HasPrefix(path, "/.well-known/") && !slices.Contains(unversionedPaths, path) {
			problems = append(problems, fmt.Sprintf("%s: path is outside /v1/ and /.well-known/", path))
		}
		for method, op := range item.GetOperations().FromOldest() {
			where := strings.ToUpper(method) + " " + path
			bad := func(format string, args ...any) {
				problems = append(problems, where+": "+fmt.Sprintf(format, args...))
			}
			switch first, dup := seenIDs[op.OperationId]; {
			case op.OperationId == "":
				bad("no operationId")
			case dup:
				bad("operationId %q is also used by %s", op.OperationId, first)
			default:
				seenIDs[op.OperationId] = where
			}
			if strings.TrimSpace(op.Summary) == "" {
				bad("no summary")
			}
			if len(op.Tags) == 0 {
				bad("no tag")
			}
			if msg := checkDefaultResponse(op); msg != "" {
				bad("%s", msg)
			}
			for _, msg := range checkPathParams(path, item, op) {
				bad("%s", msg)
			}
		}
	}
	return problems
}

// checkDefaultResponse describes what is wrong with the operation's default response, or
// returns "".
func checkDefaultResponse(op *v3.Operation) string {
	if op.Responses == nil || op.Responses.Default == nil {
		return "no default response"
	}
	content := op.Responses.Default.Content
	if content == nil || content.Len() == 0 {
		return "default response has no content; want " + problemMediaType
	}
	var others []string
	for ct := range content.KeysFromOldest() {
		if ct != problemMediaType {
			others = append(others, ct)
		}
	}
	if len(others) > 0 {
		return fmt.Sprintf("default response offers %s; want only %s", strings.Join(others, ", "), problemMediaType)
	}
	mt := content.GetOrZero(problemMediaType)
	if mt == nil || mt.Schema == nil {
		return "default response " + problemMediaType + " has no schema"
	}
	if !mt.Schema.IsReference() || !strings.HasSuffix(mt.Schema.GetReference(), problemSchemaRef) {
		return fmt.Sprintf("default response schema is %q; want a $ref to components/common.yaml%s", mt.Schema.GetReference(), problemSchemaRef)
	}
	return ""
}

// checkPathParams compares the path template's parameters with the path parameters that
// the path item and the operation declare.
func checkPathParams(path string, item *v3.PathItem, op *v3.Operation) []string {
	declared := map[string]bool{} // name -> required
	for _, p := range slices.Concat(item.Parameters, op.Parameters) {
		if p != nil && p.In == "path" {
			declared[p.Name] = p.Required != nil && *p.Required
		}
	}
	var problems []string
	inTemplate := map[string]bool{}
	for _, m := range pathTemplateParam.FindAllStringSubmatch(path, -1) {
		name := m[1]
		inTemplate[name] = true
		required, ok := declared[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("path parameter %q is not declared", name))
		case !required:
			problems = append(problems, fmt.Sprintf("path parameter %q is not required: true", name))
		}
	}
	for _, name := range sortedNames(declared) {
		if !inTemplate[name] {
			problems = append(problems, fmt.Sprintf("path parameter %q is declared but not in the path", name))
		}
	}
	return problems
}

func sortedNames(m map[string]bool) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
