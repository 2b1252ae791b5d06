package modelpolicy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/stretchr/testify/require"
)

// sweepBaselines is one valid request per operation of spec/modelpolicy.yaml; the sweep
// fails on an operation without one, so every new operation is swept. {tenant} is the
// test tenant.
var sweepBaselines = map[string]struct{ path, body string }{
	"getHealth":            {"/v1/health", ""},
	"getReadiness":         {"/v1/ready", ""},
	"createChatCompletion": {"/v1/chat/completions", `{"model":"builtin-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":false,"stream_options":{"include_usage":true},"max_completion_tokens":5,"tools":[{"type":"function","function":{"name":"f"}}]}`},
	"createEmbedding":      {"/v1/embeddings", `{"model":"builtin-embedding","input":"hi","encoding_format":"float","dimensions":8}`},
	"listModels":           {"/v1/models", ""},
	"evaluatePolicy":       {"/v1/policy:evaluate", `{"operation":"chat.completions","model":"builtin-chat","tools":["a"],"estimated_tokens":1,"max_tokens":1,"stream":false}`},
	"authorizeToolCall":    {"/v1/tools:authorize", `{"tool":"http_fetch","type":"builtin","server":"s","url":"https://example.com/x","run_id":"run_1","agent_id":"a"}`},
	"getPolicyStatus":      {"/v1/policy", ""},
	"getUsage":             {"/v1/usage?window=hour", ""},
	"listApiKeys":          {"/v1/tenants/{tenant}/api-keys", ""},
	"createApiKey":         {"/v1/tenants/{tenant}/api-keys", `{"name":"k","principal_id":"p"}`},
	"deleteApiKey":         {"/v1/tenants/{tenant}/api-keys/key_000000000000", ""},
}

type sweepOp struct {
	id, method, path string
	admin            bool
	body             *base.Schema
	params           []*v3.Parameter
}

func loadSweepOps(t *testing.T) []sweepOp {
	t.Helper()
	abs, err := filepath.Abs("../../spec/modelpolicy.yaml")
	require.NoError(t, err)
	data, err := os.ReadFile(abs)
	require.NoError(t, err)
	cfg := datamodel.NewDocumentConfiguration()
	cfg.BasePath = filepath.Dir(abs)
	cfg.SpecFilePath = filepath.Base(abs)
	cfg.AllowFileReferences = true
	cfg.Logger = slog.New(slog.DiscardHandler)
	doc, err := libopenapi.NewDocumentWithConfiguration(data, cfg)
	require.NoError(t, err)
	model, err := doc.BuildV3Model()
	require.NoError(t, err)
	var ops []sweepOp
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o := sweepOp{id: op.OperationId, method: strings.ToUpper(method), path: path, params: slices.Concat(item.Parameters, op.Parameters)}
			if op.Security != nil {
				for _, req := range op.Security {
					for name := range req.Requirements.KeysFromOldest() {
						o.admin = o.admin || name == "adminToken"
					}
				}
			}
			if op.RequestBody != nil {
				mt := op.RequestBody.Content.GetOrZero("application/json")
				require.NotNil(t, mt, op.OperationId)
				o.body = mt.Schema.Schema()
			}
			ops = append(ops, o)
		}
	}
	return ops
}

// mutation is one bad request.
type mutation struct {
	name string
	body []byte
	path string
	// contentType overrides application/json.
	contentType string
	// mayPass: the mutation is valid input for this schema (an unknown field where
	// additional properties are allowed), so a 2xx is right too.
	mayPass bool
}

func otherTypes(s *base.Schema) []any {
	allowed := map[string]bool{}
	for _, t := range s.Type {
		allowed[t] = true
	}
	if len(allowed) == 0 {
		return nil // untyped: anything goes
	}
	// A value of each JSON type; those the schema does not allow are wrong.
	candidates := map[string]any{"string": "a string", "integer": 42, "boolean": true, "object": map[string]any{"a": 1}, "array": []any{1}, "null": nil}
	var out []any
	for _, typ := range []string{"string", "integer", "boolean", "object", "array", "null"} {
		if allowed[typ] || (typ == "integer" && allowed["number"]) {
			continue
		}
		out = append(out, candidates[typ])
	}
	// Near misses: a fraction for an integer, strings that look like the right type.
	for _, typ := range s.Type {
		if v, ok := map[string]any{"integer": 42.5, "boolean": "true", "object": "{}", "array": "[]"}[typ]; ok {
			out = append(out, v)
		}
	}
	return out
}

func clone(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// bodyMutations walks the schema along the baseline document.
func bodyMutations(prefix string, s *base.Schema, doc any, set func(any) []byte) []mutation {
	var out []mutation
	for _, v := range otherTypes(s) {
		out = append(out, mutation{name: fmt.Sprintf("%s: wrong type %T", prefix, v), body: set(v)})
	}
	if len(s.Enum) > 0 {
		out = append(out, mutation{name: prefix + ": unknown enum value", body: set("not-a-member-of-the-enum")})
	}
	if s.MinLength != nil && *s.MinLength > 0 {
		out = append(out, mutation{name: prefix + ": shorter than minLength", body: set("")})
	}
	if s.MaxLength != nil {
		out = append(out, mutation{name: prefix + ": longer than maxLength", body: set(strings.Repeat("x", int(*s.MaxLength)+1))})
	}
	if s.Minimum != nil {
		out = append(out, mutation{name: prefix + ": below minimum", body: set(*s.Minimum - 1)})
	}
	if s.Maximum != nil {
		out = append(out, mutation{name: prefix + ": above maximum", body: set(*s.Maximum + 1)})
	}
	if s.MinItems != nil && *s.MinItems > 0 {
		out = append(out, mutation{name: prefix + ": fewer than minItems", body: set([]any{})})
	}
	if slices.Contains(s.Type, "string") {
		out = append(out, mutation{name: prefix + ": invalid UTF-8", body: bytes.Replace(set("\x00MARK\x00"), []byte(`\u0000MARK\u0000`), []byte("\xff\xfe\xfd"), 1)})
	}
	switch d := doc.(type) {
	case map[string]any:
		if s.Properties != nil {
			for name, prop := range s.Properties.FromOldest() {
				ps := prop.Schema()
				if ps == nil {
					continue
				}
				child, present := d[name]
				if !present {
					continue
				}
				out = append(out, bodyMutations(prefix+"."+name, ps, child, func(v any) []byte {
					d2 := clone(d).(map[string]any)
					d2[name] = v
					return set(d2)
				})...)
			}
		}
		for _, req := range s.Required {
			d2 := clone(d).(map[string]any)
			delete(d2, req)
			out = append(out, mutation{name: prefix + ": missing required " + req, body: set(d2)})
		}
		d2 := clone(d).(map[string]any)
		d2["x_unknown_field"] = map[string]any{"n": 1}
		open := s.AdditionalProperties == nil || (s.AdditionalProperties.IsB() && s.AdditionalProperties.B) || (s.AdditionalProperties.IsA())
		out = append(out, mutation{name: prefix + ": unknown field", body: set(d2), mayPass: open})
	case []any:
		if s.Items != nil && s.Items.IsA() && len(d) > 0 {
			if is := s.Items.A.Schema(); is != nil {
				out = append(out, bodyMutations(prefix+"[0]", is, d[0], func(v any) []byte {
					d2 := clone(d).([]any)
					d2[0] = v
					return set(d2)
				})...)
			}
		}
		if s.MaxItems != nil {
			long := make([]any, *s.MaxItems+1)
			for i := range long {
				long[i] = clone(d[0])
			}
			out = append(out, mutation{name: prefix + ": more than maxItems", body: set(long)})
		}
	}
	return out
}

func paramMutations(o sweepOp, base string) []mutation {
	var out []mutation
	for _, p := range o.params {
		s := p.Schema.Schema()
		switch p.In {
		case "query":
			bad := []string{}
			if len(s.Enum) > 0 {
				bad = append(bad, "not-a-member")
			}
			if s.Format == "date-time" {
				bad = append(bad, "yesterday", "2026-13-45T99:00:00Z")
			}
			if s.MaxLength != nil {
				bad = append(bad, strings.Repeat("q", int(*s.MaxLength)+1))
			}
			sep := "?"
			if strings.Contains(base, "?") {
				sep = "&"
			}
			for _, v := range bad {
				out = append(out, mutation{name: "query " + p.Name + "=" + v[:min(len(v), 20)], path: base + sep + p.Name + "=" + v})
			}
		case "path":
			out = append(out, mutation{name: "path " + p.Name + " malformed", path: strings.Replace(o.path, "{"+p.Name+"}", "BAD%20ID!", 1)})
		}
	}
	return out
}

// TestBadInputSweep sends, to every operation of the spec, requests with wrong types,
// missing and unknown fields, unknown enum values, out-of-range numbers, invalid UTF-8,
// bodies over the limit, malformed JSON and wrong content types, and bad parameters:
// every answer is a 4xx problem+json (with the OpenAI error object), never a 5xx.
func TestBadInputSweep(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ops := loadSweepOps(t)
	require.Len(t, ops, len(sweepBaselines), "every operation has a baseline and every baseline an operation")
	total := 0
	for _, o := range ops {
		bl, ok := sweepBaselines[o.id]
		require.True(t, ok, "operation %s has no sweep baseline", o.id)
		path := strings.ReplaceAll(bl.path, "{tenant}", b.tenant)
		send := func(m mutation) (int, http.Header, []byte) {
			p := path
			if m.path != "" {
				p = strings.ReplaceAll(m.path, "{tenant}", b.tenant)
				p = strings.ReplaceAll(p, "{key_id}", "key_000000000000")
			}
			var body io.Reader
			if m.body != nil {
				body = bytes.NewReader(m.body)
			}
			req, err := http.NewRequest(o.method, b.srv.URL+p, body)
			require.NoError(t, err)
			ct := "application/json"
			if m.contentType != "" {
				ct = m.contentType
			}
			req.Header.Set("Content-Type", ct)
			if o.admin {
				req.Header.Set("Authorization", "Bearer "+b.admin)
			} else {
				req.Header.Set("X-Tenant-Id", b.tenant)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header, out
		}

		// The baseline itself is not a server error.
		var baseline []byte
		if bl.body != "" {
			baseline = []byte(bl.body)
		}
		status, _, out := send(mutation{body: baseline})
		require.Less(t, status, 500, "%s baseline: %s", o.id, out)

		var muts []mutation
		if o.body != nil {
			var doc any
			require.NoError(t, json.Unmarshal([]byte(bl.body), &doc))
			muts = bodyMutations("body", o.body, doc, func(v any) []byte {
				b, err := json.Marshal(v)
				require.NoError(t, err)
				return b
			})
			muts = append(muts,
				mutation{name: "malformed JSON", body: []byte(bl.body[:len(bl.body)/2])},
				mutation{name: "trailing data", body: []byte(bl.body + "{}")},
				mutation{name: "empty body", body: []byte{}},
				mutation{name: "not an object", body: []byte(`[1,2]`)},
				mutation{name: "wrong content type", body: []byte(bl.body), contentType: "text/plain"},
				mutation{name: "over the body limit", body: append([]byte(`{"model":"`), append(bytes.Repeat([]byte("x"), 1<<20), '"', '}')...)},
			)
		}
		muts = append(muts, paramMutations(o, path)...)
		for _, m := range muts {
			total++
			status, header, out := send(m)
			name := o.id + " / " + m.name
			require.Less(t, status, 500, "%s: %s", name, out)
			if m.mayPass && status < 300 {
				continue
			}
			require.GreaterOrEqual(t, status, 400, "%s: %s", name, out)
			require.Equal(t, "application/problem+json", header.Get("Content-Type"), name)
			var p struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
				Error  struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(out, &p), name)
			require.Equal(t, status, p.Status, name)
			require.NotEmpty(t, p.Code, name)
			require.NotEmpty(t, p.Error.Message, "%s: the problem carries error.message: %s", name, out)
		}
	}
	t.Logf("sent %d bad requests to %d operations", total, len(ops))
	require.Greater(t, total, 100)
}
