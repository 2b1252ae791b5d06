// Package badinput is a test-support library: it reads an OpenAPI document, derives
// requests that break it (wrong types, missing and unknown fields, unknown enum values,
// out-of-range numbers, overlong strings, invalid UTF-8, malformed and oversized bodies,
// bad parameters) and sweeps them over a running service, checking that every one is
// answered with a 4xx application/problem+json and none with a 5xx. The same cases seed
// the fuzz targets, which reuse its request builder and its response checks.
//
// Import it from tests only.
package badinput

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Spec is a loaded OpenAPI document and every operation in it.
type Spec struct {
	// Path is the file the document was read from.
	Path string
	Doc  *openapi3.T
	// Operations, sorted by path then method, with DELETE operations last so that a
	// sweep deletes nothing another operation's cases still name.
	Operations []*Operation
}

// Operation is one method on one path, with what a request to it may carry.
type Operation struct {
	ID     string
	Method string
	// Path is the template, e.g. /v1/agents/{agent_id}/runs.
	Path string
	// Params are the path-item and operation parameters (the operation's win), in the
	// document's order.
	Params []*openapi3.Parameter
	// Body is the application/json request body schema; nil when the operation takes none.
	Body         *openapi3.Schema
	BodyRequired bool
	// Security lists the alternatives (each a set of scheme names that must all be
	// satisfied); empty means the operation is public.
	Security []Requirement
}

// Requirement is one security alternative: every named scheme must be satisfied.
type Requirement []string

// PathParams returns the names of the path parameters in template order.
func (op *Operation) PathParams() []string {
	var names []string
	rest := op.Path
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return names
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return names
		}
		names = append(names, rest[i+1:i+j])
		rest = rest[i+j+1:]
	}
}

// ParamsIn returns the parameters in one location ("path", "query", "header"), in the
// document's order, path parameters in template order.
func (op *Operation) ParamsIn(in string) []*openapi3.Parameter {
	if in == openapi3.ParameterInPath {
		var out []*openapi3.Parameter
		for _, name := range op.PathParams() {
			if p := op.Param(in, name); p != nil {
				out = append(out, p)
			}
		}
		return out
	}
	var out []*openapi3.Parameter
	for _, p := range op.Params {
		if p.In == in {
			out = append(out, p)
		}
	}
	return out
}

// Param returns the parameter in location in named name, or nil.
func (op *Operation) Param(in, name string) *openapi3.Parameter {
	for _, p := range op.Params {
		if p.In != in {
			continue
		}
		if p.Name == name || in == openapi3.ParameterInHeader && strings.EqualFold(p.Name, name) {
			return p
		}
	}
	return nil
}

func (op *Operation) String() string { return op.ID + " (" + op.Method + " " + op.Path + ")" }

// Load reads an OpenAPI document and the files it references (relative $refs such as
// components/common.yaml are allowed) and lists its operations.
func Load(path string) (*Spec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	// The default reader caches every file by URI for the life of the process; read
	// local files afresh.
	loader.ReadFromURIFunc = openapi3.ReadFromFile
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("validate %s: %w", path, err)
	}
	s := &Spec{Path: path, Doc: doc}
	for _, p := range doc.Paths.Keys() {
		item := doc.Paths.Value(p)
		for method, o := range item.Operations() {
			op, err := newOperation(doc, p, method, item, o)
			if err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", path, method, p, err)
			}
			s.Operations = append(s.Operations, op)
		}
	}
	sort.SliceStable(s.Operations, func(i, j int) bool {
		a, b := s.Operations[i], s.Operations[j]
		if (a.Method == http.MethodDelete) != (b.Method == http.MethodDelete) {
			return b.Method == http.MethodDelete
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
	return s, nil
}

// Operation returns the operation with the given operationId, or nil.
func (s *Spec) Operation(id string) *Operation {
	for _, op := range s.Operations {
		if op.ID == id {
			return op
		}
	}
	return nil
}

func newOperation(doc *openapi3.T, path, method string, item *openapi3.PathItem, o *openapi3.Operation) (*Operation, error) {
	op := &Operation{ID: o.OperationID, Method: method, Path: path}
	if op.ID == "" {
		op.ID = method + " " + path
	}
	add := func(refs openapi3.Parameters) error {
		for _, ref := range refs {
			p := ref.Value
			if p == nil {
				return fmt.Errorf("unresolved parameter %s", ref.Ref)
			}
			if p.Schema == nil || p.Schema.Value == nil {
				return fmt.Errorf("parameter %s has no schema (content parameters are not supported)", p.Name)
			}
			if i := slices.IndexFunc(op.Params, func(q *openapi3.Parameter) bool { return q.In == p.In && q.Name == p.Name }); i >= 0 {
				op.Params[i] = p
				continue
			}
			op.Params = append(op.Params, p)
		}
		return nil
	}
	if err := add(item.Parameters); err != nil {
		return nil, err
	}
	if err := add(o.Parameters); err != nil {
		return nil, err
	}
	if rb := o.RequestBody; rb != nil && rb.Value != nil {
		mt := rb.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
			return nil, fmt.Errorf("request body without an application/json schema is not supported")
		}
		op.Body = mt.Schema.Value
		op.BodyRequired = rb.Value.Required
	}
	sec := doc.Security
	if o.Security != nil {
		sec = *o.Security
	}
	for _, req := range sec {
		if len(req) == 0 {
			// An empty requirement makes the operation public.
			op.Security = nil
			break
		}
		names := make([]string, 0, len(req))
		for name := range req {
			names = append(names, name)
		}
		sort.Strings(names)
		op.Security = append(op.Security, names)
	}
	return op, nil
}
