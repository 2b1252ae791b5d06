package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-faster/jx"
	"gopkg.in/yaml.v3"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// agentFile is an agent definition as `agents apply -f` reads it.
type agentFile struct {
	ID    string
	Input orchestratorapi.AgentInput
}

// decodeAgentFile reads one YAML or JSON document (JSON is YAML) holding `id` (or
// `agent_id`) and the fields of AgentInput. Decoding is strict: every key the schema does
// not declare, at any depth, is reported with its path and line. The allowed keys come
// from the generated types' json tags, so the file follows the spec without a copy of it.
func decodeAgentFile(name string, r io.Reader) (agentFile, error) {
	dec := yaml.NewDecoder(r)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return agentFile{}, fmt.Errorf("%s: no agent definition", name)
		}
		return agentFile{}, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return agentFile{}, fmt.Errorf("%s: want one document, found more", name)
	}
	root := &doc
	for root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return agentFile{}, fmt.Errorf("%s: line %d: want a mapping of agent fields", name, root.Line)
	}
	if err := duplicateKeys(root); err != nil {
		return agentFile{}, fmt.Errorf("%s: %w", name, err)
	}

	var out agentFile
	body := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line}
	var ids []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "id" && k.Value != "agent_id" {
			body.Content = append(body.Content, k, v)
			continue
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" || v.Value == "" {
			return agentFile{}, fmt.Errorf("%s: line %d: %s: want a non-empty string", name, v.Line, k.Value)
		}
		ids = append(ids, v.Value)
		out.ID = v.Value
	}
	switch {
	case len(ids) == 0:
		return agentFile{}, fmt.Errorf("%s: id: required (the agent's id, or agent_id)", name)
	case len(ids) == 2 && ids[0] != ids[1]:
		return agentFile{}, fmt.Errorf("%s: id %q and agent_id %q disagree", name, ids[0], ids[1])
	}
	d := &schemaDecoder{}
	v := d.value(body, reflect.TypeFor[orchestratorapi.AgentInput](), "")
	if d.nodes > maxAgentFileNodes {
		return agentFile{}, fmt.Errorf("%s: %w", name, errTooManyNodes)
	}
	if len(d.unknown) > 0 {
		return agentFile{}, fmt.Errorf("%s: unknown keys: %s", name, strings.Join(d.unknown, ", "))
	}
	if len(d.invalid) > 0 {
		return agentFile{}, fmt.Errorf("%s: %s", name, strings.Join(d.invalid, "; "))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return agentFile{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := out.Input.Decode(jx.DecodeBytes(raw)); err != nil {
		return agentFile{}, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// schemaDecoder converts a YAML node to the JSON of a generated schema type, guided by
// the type: it collects the keys the type does not declare and the values of the wrong
// kind, each with its path and line, instead of stopping at the first. Free-form values
// (tool parameters) are converted as they are.
type schemaDecoder struct {
	unknown []string
	invalid []string
	nodes   int // visited, aliases expanded: bounds what a few anchors can multiply to
}

const maxAgentFileNodes = 100_000

var errTooManyNodes = fmt.Errorf("more than %d values once aliases are expanded", maxAgentFileNodes)

var (
	rawType  = reflect.TypeFor[jx.Raw]()
	timeType = reflect.TypeFor[time.Time]()
)

// value returns n as a value encoding/json writes as t's JSON; null leaves a field out.
func (d *schemaDecoder) value(n *yaml.Node, t reflect.Type, path string) any {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if d.nodes++; d.nodes > maxAgentFileNodes {
		return nil
	}
	t = schemaType(t)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	bad := func(want string) any {
		d.invalid = append(d.invalid, fmt.Sprintf("%s (line %d): want %s", orRoot(path), n.Line, want))
		return nil
	}
	switch {
	case t == rawType:
		v, err := d.raw(n)
		if err != nil {
			d.invalid = append(d.invalid, fmt.Sprintf("%s: %v", orRoot(path), err))
		}
		return v
	case t == timeType, t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			return bad("a string")
		}
		return n.Value
	case t.Kind() == reflect.Bool, t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		tag := n.ShortTag()
		switch {
		case n.Kind != yaml.ScalarNode,
			t.Kind() == reflect.Bool && tag != "!!bool",
			t.Kind() < reflect.Float32 && t.Kind() != reflect.Bool && tag != "!!int",
			t.Kind() >= reflect.Float32 && tag != "!!int" && tag != "!!float":
			return bad(kindName(t))
		}
		ptr := reflect.New(t)
		if err := n.Decode(ptr.Interface()); err != nil {
			return bad(kindName(t))
		}
		return ptr.Elem().Interface()
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("a list")
		}
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			out = append(out, d.value(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)))
		}
		return out
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad("a mapping")
		}
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			var ft reflect.Type
			if t.Kind() == reflect.Map {
				ft = t.Elem()
			} else {
				var ok bool
				if ft, ok = jsonField(t, k.Value); !ok {
					d.unknown = append(d.unknown, fmt.Sprintf("%s (line %d)", p, k.Line))
					continue
				}
			}
			if val := d.value(v, ft, p); val != nil {
				out[k.Value] = val
			}
		}
		return out
	}
	return bad("no value (" + t.String() + " is not supported)")
}

func kindName(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return fmt.Sprintf("an integer (%s)", t.Kind())
}

func orRoot(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

// schemaType unwraps pointers and ogen's optional wrappers (OptX{Value, Set[, Null]}).
func schemaType(t reflect.Type) reflect.Type {
	for {
		switch {
		case t.Kind() == reflect.Pointer:
			t = t.Elem()
		case t.Kind() == reflect.Struct && strings.HasPrefix(t.Name(), "Opt"):
			v, ok := t.FieldByName("Value")
			if _, set := t.FieldByName("Set"); !ok || !set || v.Tag.Get("json") != "" {
				return t
			}
			t = v.Type
		default:
			return t
		}
	}
}

// jsonField returns the type of t's field whose json name is name.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name && f.IsExported() {
			return f.Type, true
		}
	}
	return nil, false
}

// duplicateKeys reports the first mapping key that repeats one before it; decoding into
// a yaml.Node, unlike into a map, does not.
func duplicateKeys(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if line, dup := seen[k.Value]; dup {
				return fmt.Errorf("line %d: key %q repeats the one on line %d", k.Line, k.Value, line)
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := duplicateKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// raw converts a free-form YAML node to a value encoding/json writes. Unlike decoding
// into any, a timestamp-looking scalar stays the string it was written as.
func (d *schemaDecoder) raw(n *yaml.Node) (any, error) {
	if d.nodes++; d.nodes > maxAgentFileNodes {
		return nil, errTooManyNodes
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return d.raw(n.Content[0])
	case yaml.AliasNode:
		return d.raw(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: want a plain key", k.Line)
			}
			v, err := d.raw(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := d.raw(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return nil, fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
			}
			return v, nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// readAgentFile reads the file at path, or in for "-".
func readAgentFile(path string, in io.Reader) (agentFile, error) {
	if path == "-" {
		return decodeAgentFile("stdin", in)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return agentFile{}, err
	}
	return decodeAgentFile(path, bytes.NewReader(data))
}
