package badinput

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// Request is what one case sends, before credentials are added.
type Request struct {
	// Method overrides the operation's method (405 cases); empty means the operation's.
	Method string
	// PathValues fill the path template's parameters in order (unescaped).
	PathValues []string
	// RawQuery is sent as is (it may hold deliberately odd escapes).
	RawQuery string
	// Header holds the header parameters (credentials are added by the sender).
	Header http.Header
	// Body is sent when SendBody is set, with ContentType (none when empty).
	Body        []byte
	SendBody    bool
	ContentType string
	// Chunked sends the body without a Content-Length.
	Chunked bool
}

// Path expands the operation's path template with the request's path values (escaped
// as a client would escape them). Missing values are left empty.
func (r *Request) Path(op *Operation) string {
	var b strings.Builder
	rest := op.Path
	for i := 0; ; i++ {
		j := strings.IndexByte(rest, '{')
		if j < 0 {
			b.WriteString(rest)
			return b.String()
		}
		k := strings.IndexByte(rest[j:], '}')
		if k < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:j])
		if i < len(r.PathValues) {
			b.WriteString(url.PathEscape(r.PathValues[i]))
		}
		rest = rest[j+k+1:]
	}
}

// HTTP builds the request against baseURL, adding the credential headers.
func (r *Request) HTTP(ctx context.Context, op *Operation, baseURL string, creds http.Header) (*http.Request, error) {
	target := strings.TrimSuffix(baseURL, "/") + r.Path(op)
	if r.RawQuery != "" {
		target += "?" + r.RawQuery
	}
	method := r.Method
	if method == "" {
		method = op.Method
	}
	var body io.Reader
	if r.SendBody {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range creds {
		req.Header[k] = append([]string(nil), vs...)
	}
	for k, vs := range r.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.Chunked && r.SendBody {
		req.ContentLength = -1
		req.Body = io.NopCloser(bytes.NewReader(r.Body)) // hide the length from the transport
		req.GetBody = nil
	}
	return req, nil
}

// Verdict is what the document says about a request.
type Verdict struct {
	// Breaks is set when the request violates the document.
	Breaks bool
	// Reason names the first violation.
	Reason string
	// Routing is set when the violation is in the path or the method, where a 404 or a
	// 405 is an equally good answer as a 400.
	Routing bool
	// MayNotExist is set by the caller when the path may name a resource that does not
	// exist: a 404 may then come before a validation error.
	MayNotExist bool
}

// Judge decides whether a request conforms to the operation: every parameter present
// when required and valid against its schema (integers within their format, strings
// valid UTF-8), and the body valid UTF-8 JSON that satisfies the body schema, sent as
// application/json and within maxBody bytes (0: no limit).
func (op *Operation) Judge(r *Request, maxBody int64) Verdict {
	if r.Method != "" && r.Method != op.Method {
		return Verdict{Breaks: true, Reason: "method " + r.Method + " is not defined on " + op.Path, Routing: true}
	}
	for i, p := range op.ParamsIn(openapi3.ParameterInPath) {
		v := ""
		if i < len(r.PathValues) {
			v = r.PathValues[i]
		}
		if v == "" {
			return Verdict{Breaks: true, Reason: "path " + p.Name + ": empty", Routing: true}
		}
		if err := judgeParam(p, []string{v}); err != nil {
			return Verdict{Breaks: true, Reason: "path " + p.Name + ": " + err.Error(), Routing: true}
		}
	}
	query, _ := url.ParseQuery(r.RawQuery) // the server drops what does not parse, too
	for _, p := range op.ParamsIn(openapi3.ParameterInQuery) {
		if err := judgeParam(p, query[p.Name]); err != nil {
			return Verdict{Breaks: true, Reason: "query " + p.Name + ": " + err.Error()}
		}
	}
	for _, p := range op.ParamsIn(openapi3.ParameterInHeader) {
		if err := judgeParam(p, r.Header.Values(p.Name)); err != nil {
			return Verdict{Breaks: true, Reason: "header " + p.Name + ": " + err.Error()}
		}
	}
	if op.Body == nil {
		return Verdict{}
	}
	if !r.SendBody || len(r.Body) == 0 {
		if op.BodyRequired {
			return Verdict{Breaks: true, Reason: "body: required"}
		}
		return Verdict{}
	}
	if maxBody > 0 && int64(len(r.Body)) > maxBody {
		return Verdict{Breaks: true, Reason: fmt.Sprintf("body: %d bytes, over the limit of %d", len(r.Body), maxBody)}
	}
	if mt, _, err := mime.ParseMediaType(r.ContentType); err != nil || mt != "application/json" {
		return Verdict{Breaks: true, Reason: fmt.Sprintf("body: Content-Type %q is not application/json", r.ContentType)}
	}
	if err := JudgeBody(op.Body, r.Body); err != nil {
		return Verdict{Breaks: true, Reason: "body: " + err.Error()}
	}
	return Verdict{}
}

// JudgeBody returns why body is not a JSON document (UTF-8, RFC 8259) satisfying schema,
// or nil.
func JudgeBody(schema *openapi3.Schema, body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("not valid UTF-8")
	}
	if !json.Valid(body) {
		return errors.New("not a single valid JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if err := fitsFormats(schema, v, "body"); err != nil {
		return err
	}
	if err := Valid(schema, v); err != nil {
		return firstLine(err)
	}
	return nil
}

func firstLine(err error) error {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return errors.New(s)
}

// fitsFormats checks what the schema validator judges through float64: integers with
// format int32/int64 must fit exactly.
func fitsFormats(s *openapi3.Schema, v any, at string) error {
	if s == nil {
		return nil
	}
	switch v := v.(type) {
	case json.Number:
		if typeOf(s) != openapi3.TypeInteger {
			return nil
		}
		bits := map[string]int{"int32": 32, "int64": 64}[s.Format]
		if bits == 0 {
			return nil
		}
		n, ok := new(big.Int).SetString(v.String(), 10)
		if !ok {
			return nil // not an integer literal: the validator rejects it as a type
		}
		if !n.IsInt64() || (bits == 32 && (n.Int64() < -1<<31 || n.Int64() > 1<<31-1)) {
			return fmt.Errorf("%s: %s does not fit %s", at, v, s.Format)
		}
	case map[string]any:
		for k, x := range v {
			var sub *openapi3.Schema
			if p, ok := s.Properties[k]; ok {
				sub = p.Value
			} else if ap := s.AdditionalProperties.Schema; ap != nil {
				sub = ap.Value
			}
			if err := fitsFormats(sub, x, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if s.Items == nil {
			return nil
		}
		for i, x := range v {
			if err := fitsFormats(s.Items.Value, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// judgeParam checks the raw values of one parameter (several for an exploded array).
func judgeParam(p *openapi3.Parameter, raw []string) error {
	if len(raw) == 0 {
		if p.Required {
			return errors.New("required")
		}
		return nil
	}
	for _, r := range raw {
		if !utf8.ValidString(r) {
			return errors.New("not valid UTF-8")
		}
	}
	s := p.Schema.Value
	var v any
	if typeOf(s) == openapi3.TypeArray {
		parts := raw
		if sm, err := p.SerializationMethod(); err == nil && !sm.Explode {
			parts = strings.Split(raw[0], ",")
		}
		items := make([]any, 0, len(parts))
		var itemSchema *openapi3.Schema
		if s.Items != nil {
			itemSchema = s.Items.Value
		}
		for _, part := range parts {
			x, err := scalar(itemSchema, part)
			if err != nil {
				return err
			}
			items = append(items, x)
		}
		v = items
	} else {
		x, err := scalar(s, raw[0])
		if err != nil {
			return err
		}
		v = x
	}
	if err := fitsFormats(s, v, p.Name); err != nil {
		return err
	}
	if err := Valid(s, v); err != nil {
		return firstLine(err)
	}
	return nil
}

// scalar converts a parameter's text to the JSON value its schema describes.
func scalar(s *openapi3.Schema, raw string) (any, error) {
	if s == nil {
		return raw, nil
	}
	switch typeOf(s) {
	case openapi3.TypeInteger:
		if _, ok := new(big.Int).SetString(raw, 10); !ok {
			return nil, fmt.Errorf("%q is not an integer", raw)
		}
		return json.Number(raw), nil
	case openapi3.TypeNumber:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || strings.ContainsAny(raw, "xXpP_") {
			return nil, fmt.Errorf("%q is not a number", raw)
		}
		return f, nil
	case openapi3.TypeBoolean:
		switch raw {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean", raw)
	}
	return raw, nil
}
