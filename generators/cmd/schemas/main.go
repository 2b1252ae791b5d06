// Command schemas exports JSON Schemas of the payloads that do not travel over HTTP (the
// audit record and the configuration file) from their Go types into spec/schemas/.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/config"
)

func main() {
	dir := flag.String("dir", "spec/schemas", "output directory")
	flag.Parse()
	write(*dir, "audit-record.schema.json", auditSchema())
	write(*dir, "config.schema.json", configSchema())
}

func auditSchema() *jsonschema.Schema {
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true}
	s := r.Reflect(&audit.Record{})
	s.ID = "urn:agentos:schema:audit-record"
	s.Title = "AgentOS audit record"
	s.Description = "One line of the audit sink and one row of audit_records: hash-chained per tenant (hash = sha256 over every other field, prev_hash = the tenant's previous record's hash)."
	return s
}

func configSchema() *jsonschema.Schema {
	r := &jsonschema.Reflector{
		DoNotReference:             true,
		ExpandedStruct:             true,
		FieldNameTag:               "yaml",
		AllowAdditionalProperties:  false,
		RequiredFromJSONSchemaTags: true, // every key is optional
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == reflect.TypeFor[time.Duration]() {
				return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, Description: "Go duration, e.g. 30s"}
			}
			return nil
		},
	}
	s := r.Reflect(&config.File{})
	s.ID = "urn:agentos:schema:config"
	s.Title = "agentos.yaml"
	s.Description = "The AgentOS configuration file. Every key is optional; see docs/configuration.md."
	for _, f := range config.Fields() {
		if p, ok := s.Properties.Get(f.YAML); ok {
			p.Description = f.Doc + " Variable: " + f.Env + "."
			p.Default = typedDefault(f)
		}
	}
	return s
}

// typedDefault returns a setting's default as a JSON value of the setting's type (nil when
// it has none or it is derived from another setting).
func typedDefault(f config.Field) any {
	if f.Default == "" || strings.Contains(f.Default, "<") {
		return nil
	}
	switch f.Type {
	case "integer":
		n, err := strconv.ParseInt(f.Default, 10, 64)
		if err != nil {
			log.Fatalf("default of %s: %v", f.YAML, err)
		}
		return n
	case "list":
		return strings.Split(f.Default, ",")
	}
	return f.Default
}

func write(dir, name string, s *jsonschema.Schema) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		log.Fatalf("encode %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644); err != nil {
		log.Fatalf("write %s: %v", name, err)
	}
}
