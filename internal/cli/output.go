package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// outputFormat is the value of an -o/--output flag.
type outputFormat string

const (
	outputJSON outputFormat = "json"
	outputYAML outputFormat = "yaml"
)

func (f outputFormat) validate() error {
	switch f {
	case outputJSON, outputYAML:
		return nil
	}
	return fmt.Errorf("--output %q: want json or yaml", string(f))
}

// printDoc writes a JSON document (as a generated type's MarshalJSON returns it) as
// indented JSON, or as YAML with the keys in the same order.
func printDoc(w io.Writer, doc []byte, format outputFormat) error {
	if format == outputYAML {
		var n yaml.Node
		if err := yaml.Unmarshal(doc, &n); err != nil {
			return fmt.Errorf("convert to yaml: %w", err)
		}
		blockStyle(&n)
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(&n); err != nil {
			return fmt.Errorf("convert to yaml: %w", err)
		}
		return enc.Close()
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, doc, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// blockStyle drops the flow style and quoting JSON parsed as YAML has (the encoder quotes
// what needs it) and writes multi-line strings as literal blocks.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "\n") {
		n.Style = yaml.LiteralStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// parsePairs parses repeated KEY=VALUE flag values.
func parsePairs(flag string, pairs []string) (map[string]string, error) {
	m := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want KEY=VALUE", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
