package badinput

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Kind classifies what a case does.
type Kind string

// Kinds of cases.
const (
	KindBaseline     Kind = "baseline"
	KindWrongType    Kind = "wrong type"
	KindMissing      Kind = "missing required"
	KindUnknownField Kind = "unknown field"
	KindUnknownEnum  Kind = "unknown enum value"
	KindTooLong      Kind = "too long"
	KindTooShort     Kind = "too short"
	KindOutOfRange   Kind = "out of range"
	KindItemCount    Kind = "item count"
	KindPattern      Kind = "pattern violation"
	KindFormat       Kind = "bad format"
	KindInvalidUTF8  Kind = "invalid UTF-8"
	KindOddChars     Kind = "odd characters"
	KindMalformed    Kind = "malformed JSON"
	KindNotObject    Kind = "wrong JSON document type"
	KindEmptyBody    Kind = "empty body"
	KindTooLarge     Kind = "body over the limit"
	KindContentType  Kind = "Content-Type"
	KindMethod       Kind = "method not allowed"
	KindUnknownParam Kind = "unknown parameter"
)

// Case is one request derived from an operation, and the document's verdict on it.
type Case struct {
	Op   *Operation
	Kind Kind
	// Where names the field or parameter changed ("body.tools[0].name", "query limit").
	Where string
	// Detail says how, e.g. "set to 12345".
	Detail  string
	Request Request
	Verdict Verdict
}

// Name identifies the case in reports.
func (c *Case) Name() string {
	s := string(c.Kind)
	if c.Where != "" {
		s += " " + c.Where
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Options tune case generation.
type Options struct {
	// PathValue returns the baseline value of a path parameter, e.g. the id of a
	// resource that exists; ok=false generates one from the schema.
	PathValue func(op *Operation, name string) (value string, ok bool)
	// Adjust may change an operation's baseline body, e.g. to drop an optional field
	// whose value would couple requests (an idempotency key). nil changes nothing.
	Adjust func(op *Operation, body any) any
	// MaxBodyBytes is the service's request body limit; 0 skips the cases over it.
	MaxBodyBytes int64
}

// maxGenerated bounds generated strings and arrays: a maxLength far beyond the body
// limit is not worth a request of that size.
const maxGenerated = 4 << 20

// BaselineRequest returns the valid request every case of op is derived from.
func (s *Spec) BaselineRequest(op *Operation, o Options) Request {
	g := &generator{op: op, o: o}
	return g.baselineRequest()
}

// Cases derives the baseline request and every bad-input case of op.
func (s *Spec) Cases(op *Operation, o Options) []Case {
	g := &generator{op: op, o: o}
	g.base = g.baselineRequest()
	g.add(KindBaseline, "", "", g.base)
	g.paramCases()
	if op.Body != nil {
		g.bodyCases()
	}
	g.methodCase(s)
	return g.cases
}

type generator struct {
	op       *Operation
	o        Options
	base     Request
	baseBody any
	cases    []Case
}

func (g *generator) add(kind Kind, where, detail string, r Request) {
	g.cases = append(g.cases, Case{Op: g.op, Kind: kind, Where: where, Detail: detail, Request: r, Verdict: g.op.Judge(&r, g.o.MaxBodyBytes)})
}

func (r Request) clone() Request {
	r.PathValues = slices.Clone(r.PathValues)
	r.Header = r.Header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Body = slices.Clone(r.Body)
	return r
}

// baselineRequest fills the required parameters and the body.
func (g *generator) baselineRequest() Request {
	r := Request{Header: http.Header{}}
	for _, p := range g.op.ParamsIn(openapi3.ParameterInPath) {
		v, ok := "", false
		if g.o.PathValue != nil {
			v, ok = g.o.PathValue(g.op, p.Name)
		}
		if !ok {
			v = paramBaseline(p)[0]
		}
		r.PathValues = append(r.PathValues, v)
	}
	q := url.Values{}
	for _, p := range g.op.Params {
		if !p.Required || p.In == openapi3.ParameterInPath {
			continue
		}
		switch p.In {
		case openapi3.ParameterInQuery:
			q[p.Name] = paramBaseline(p)
		case openapi3.ParameterInHeader:
			r.Header[http.CanonicalHeaderKey(p.Name)] = paramBaseline(p)
		}
	}
	r.RawQuery = q.Encode()
	if g.op.Body != nil {
		g.baseBody = Baseline(g.op.Body)
		if g.o.Adjust != nil {
			g.baseBody = g.o.Adjust(g.op, g.baseBody)
		}
		r.Body = mustJSON(g.baseBody)
		r.SendBody = true
		r.ContentType = "application/json"
	}
	return r
}

// paramBaseline is a valid value of a parameter, as raw strings.
func paramBaseline(p *openapi3.Parameter) []string {
	v := Baseline(p.Schema.Value)
	if a, ok := v.([]any); ok {
		out := make([]string, len(a))
		for i, x := range a {
			out[i] = text(x)
		}
		if sm, err := p.SerializationMethod(); err == nil && !sm.Explode {
			return []string{strings.Join(out, ",")}
		}
		return out
	}
	return []string{text(v)}
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.TrimSpace(string(mustJSON(v)))
}

func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("badinput: encode %v: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// withParam returns the baseline with one parameter set to values (removed when nil).
func (g *generator) withParam(p *openapi3.Parameter, values []string) Request {
	r := g.base.clone()
	switch p.In {
	case openapi3.ParameterInPath:
		for i, name := range g.op.PathParams() {
			if name == p.Name && len(values) > 0 {
				r.PathValues[i] = values[0]
			}
		}
	case openapi3.ParameterInQuery:
		q, _ := url.ParseQuery(r.RawQuery)
		if values == nil {
			q.Del(p.Name)
		} else {
			q[p.Name] = values
		}
		r.RawQuery = q.Encode()
	case openapi3.ParameterInHeader:
		if values == nil {
			r.Header.Del(p.Name)
		} else {
			r.Header[http.CanonicalHeaderKey(p.Name)] = values
		}
	}
	return r
}

func (g *generator) paramCases() {
	for _, p := range g.op.Params {
		if p.In == openapi3.ParameterInCookie {
			continue
		}
		where := p.In + " " + p.Name
		s := p.Schema.Value
		set := func(kind Kind, detail string, values ...string) {
			g.add(kind, where, detail, g.withParam(p, values))
		}
		if p.Required && p.In != openapi3.ParameterInPath {
			g.add(KindMissing, where, "left out", g.withParam(p, nil))
		}
		if p.In == openapi3.ParameterInPath {
			set(KindTooShort, "empty", "")
		}
		valid := paramBaseline(p)
		if typeOf(s) == openapi3.TypeArray {
			var item *openapi3.Schema
			if s.Items != nil {
				item = s.Items.Value
			}
			for _, v := range scalarParamValues(item, p.In, valid[0]) {
				set(v.kind, "one item "+v.detail, v.value)
			}
			if s.MaxItems != nil && *s.MaxItems < 1000 {
				many := make([]string, *s.MaxItems+1)
				for i := range many {
					many[i] = valid[0]
				}
				set(KindItemCount, fmt.Sprintf("%d items (maxItems %d)", len(many), *s.MaxItems), many...)
			}
			continue
		}
		if !p.Required {
			set(KindBaseline, "set to a valid value", valid...)
		}
		for _, v := range scalarParamValues(s, p.In, valid[0]) {
			set(v.kind, v.detail, v.value)
		}
	}
	r := g.base.clone()
	q, _ := url.ParseQuery(r.RawQuery)
	q.Set("x_badinput_unknown", "1")
	r.RawQuery = q.Encode()
	g.add(KindUnknownParam, "query x_badinput_unknown", "added", r)
	if len(g.op.ParamsIn(openapi3.ParameterInQuery)) > 0 {
		r := g.base.clone()
		if r.RawQuery != "" {
			r.RawQuery += "&"
		}
		r.RawQuery += "%zz=%zz&" + url.QueryEscape(g.op.ParamsIn(openapi3.ParameterInQuery)[0].Name) + "=%"
		g.add(KindOddChars, "query", "invalid percent-encoding", r)
	}
}

type paramValue struct {
	kind   Kind
	detail string
	value  string
}

// scalarParamValues are the bad (and odd but perhaps valid) values of one scalar
// parameter with schema s, located in "path", "query" or "header".
func scalarParamValues(s *openapi3.Schema, in, valid string) []paramValue {
	if s == nil {
		return nil
	}
	var out []paramValue
	add := func(kind Kind, detail, v string) { out = append(out, paramValue{kind, detail, v}) }
	switch typeOf(s) {
	case openapi3.TypeInteger, openapi3.TypeNumber:
		add(KindWrongType, "not a number", "abc")
		if typeOf(s) == openapi3.TypeInteger {
			add(KindWrongType, "a fraction", "1.5")
		}
		add(KindWrongType, "hexadecimal", "0x10")
		lo, hi := bounds(s)
		if !math.IsInf(lo, -1) && lo > math.MinInt64 {
			add(KindOutOfRange, "below the minimum", strconv.FormatFloat(lo-1, 'f', -1, 64))
		}
		if !math.IsInf(hi, 1) && hi < math.MaxInt64 {
			add(KindOutOfRange, "above the maximum", strconv.FormatFloat(hi+1, 'f', -1, 64))
		}
		add(KindOutOfRange, "over int64", "9223372036854775808")
		add(KindOutOfRange, "huge", "1e400")
	case openapi3.TypeBoolean:
		add(KindWrongType, "not a boolean", "maybe")
	case openapi3.TypeString:
		if len(s.Enum) > 0 {
			add(KindUnknownEnum, "not in the enum", "x_badinput_unknown")
		}
		if s.Pattern != "" {
			if v, ok := patternBreaker(s, valid); ok {
				add(KindPattern, fmt.Sprintf("%q", v), v)
			}
		}
		if s.MaxLength != nil && *s.MaxLength < maxGenerated {
			add(KindTooLong, fmt.Sprintf("%d characters (maxLength %d)", *s.MaxLength+1, *s.MaxLength), overlong(valid, int(*s.MaxLength)))
		} else {
			add(KindTooLong, "4000 characters (no maxLength)", overlong(valid, 3999))
		}
		if s.MinLength > 0 && in != openapi3.ParameterInPath {
			add(KindTooShort, "empty", "")
		}
		if s.Format == "date-time" || s.Format == "date" {
			add(KindFormat, "not a date", "yesterday")
			add(KindFormat, "impossible date", "2024-13-45T25:61:00Z")
		}
	}
	add(KindInvalidUTF8, `bytes \xff\xfe`, valid+"\xff\xfe")
	odd := []string{"a b", "ü", "../..", "a/b", "%", `'";<>`, "a,b", "=", "\t"}
	if in != openapi3.ParameterInHeader {
		odd = append(odd, "a\x00b", "a\nb")
	}
	for _, v := range odd {
		add(KindOddChars, strconv.Quote(v), v)
		if valid != "" {
			add(KindOddChars, strconv.Quote(valid+v), valid+v)
		}
	}
	return out
}

// bodyCases derives the body cases from the baseline body.
func (g *generator) bodyCases() {
	g.walk(g.op.Body, g.baseBody, nil, 0)
	g.wholeBodyCases()
}

// setBody adds a case whose body is root encoded as JSON.
func (g *generator) setBody(kind Kind, l location, detail string, root any) {
	r := g.base.clone()
	r.Body = mustJSON(root)
	g.add(kind, l.String(), detail, r)
}

// rawString adds a case whose body is root with the string at l written as raw JSON
// text (invalid UTF-8, a lone surrogate escape).
func (g *generator) rawString(kind Kind, l location, detail string, root any, raw string) {
	const marker = "x_badinput_marker_6f1c"
	body := mustJSON(with(root, l, marker, false))
	r := g.base.clone()
	r.Body = bytes.Replace(body, []byte(`"`+marker+`"`), []byte(`"`+raw+`"`), 1)
	g.add(kind, l.String(), detail, r)
}

// walk adds the cases of the node at l (schema s, current value v) in root, then of
// its children.
func (g *generator) walk(s *openapi3.Schema, root any, l location, depth int) {
	if s == nil || depth > maxDepth {
		return
	}
	v, present := get(root, l)
	if !present {
		return
	}
	if len(l) > 0 {
		for _, w := range wrongTypes(s) {
			g.setBody(KindWrongType, l, "set to "+string(mustJSON(w)), with(root, l, w, false))
		}
	}
	if len(s.Enum) > 0 {
		var bad any = "x_badinput_unknown"
		if typeOf(s) == openapi3.TypeInteger || typeOf(s) == openapi3.TypeNumber {
			bad = json.Number("987654321")
		}
		g.setBody(KindUnknownEnum, l, "set to "+string(mustJSON(bad)), with(root, l, bad, false))
	}
	switch typeOf(s) {
	case openapi3.TypeString:
		g.stringCases(s, root, l, v)
	case openapi3.TypeInteger, openapi3.TypeNumber:
		g.numberCases(s, root, l)
	case openapi3.TypeObject:
		g.objectCases(s, root, l, v, depth)
	case openapi3.TypeArray:
		g.arrayCases(s, root, l, v, depth)
	}
}

// freeForm reports whether an object schema takes any property (additionalProperties
// true or absent).
func freeForm(s *openapi3.Schema) bool {
	ap := s.AdditionalProperties
	if ap.Has != nil {
		return *ap.Has
	}
	return ap.Schema == nil
}

func wrongTypes(s *openapi3.Schema) []any {
	vals := wrongTypeValues(s)
	if s.Nullable || (s.Type != nil && s.Type.Includes("null")) {
		// null is a valid value of a nullable schema, not a wrong type.
		out := vals[:0:0]
		for _, v := range vals {
			if v != nil {
				out = append(out, v)
			}
		}
		return out
	}
	return vals
}

func wrongTypeValues(s *openapi3.Schema) []any {
	switch typeOf(s) {
	case openapi3.TypeString:
		return []any{json.Number("12345"), nil, map[string]any{}}
	case openapi3.TypeInteger:
		return []any{"1", json.Number("1.5"), nil}
	case openapi3.TypeNumber:
		return []any{"1.5", nil}
	case openapi3.TypeBoolean:
		return []any{"true", json.Number("0"), nil}
	case openapi3.TypeObject:
		return []any{[]any{}, "x", nil}
	case openapi3.TypeArray:
		return []any{map[string]any{}, "x", nil}
	}
	return nil
}

func (g *generator) stringCases(s *openapi3.Schema, root any, l location, v any) {
	valid, _ := v.(string)
	if s.MaxLength != nil && *s.MaxLength < maxGenerated {
		g.setBody(KindTooLong, l, fmt.Sprintf("%d characters (maxLength %d)", *s.MaxLength+1, *s.MaxLength), with(root, l, overlong(valid, int(*s.MaxLength)), false))
	}
	if s.MinLength > 0 {
		short := string([]rune(valid)[:min(int(s.MinLength)-1, len([]rune(valid)))])
		g.setBody(KindTooShort, l, fmt.Sprintf("%q (minLength %d)", short, s.MinLength), with(root, l, short, false))
	}
	if s.Pattern != "" {
		if bad, ok := patternBreaker(s, valid); ok {
			g.setBody(KindPattern, l, fmt.Sprintf("%q", bad), with(root, l, bad, false))
		}
	}
	switch s.Format {
	case "date-time", "date":
		g.setBody(KindFormat, l, `"yesterday"`, with(root, l, "yesterday", false))
		g.setBody(KindFormat, l, "impossible date", with(root, l, "2024-13-45T25:61:00Z", false))
	}
	g.rawString(KindInvalidUTF8, l, `bytes \xff\xfe`, root, "ab\xff\xfecd")
	g.rawString(KindInvalidUTF8, l, `truncated sequence \xc3`, root, "ab\xc3")
	g.rawString(KindOddChars, l, `lone surrogate \ud800`, root, `ab\ud800cd`)
	g.setBody(KindOddChars, l, `NUL and control characters`, with(root, l, "a\x00b\x01\x1fc", false))
	g.setBody(KindOddChars, l, `quotes, HTML and SQL`, with(root, l, `a'"<script>--;DROP TABLE x`, false))
}

func (g *generator) numberCases(s *openapi3.Schema, root any, l location) {
	lo, hi := bounds(s)
	if !math.IsInf(lo, -1) && lo > math.MinInt64 {
		n := json.Number(strconv.FormatFloat(lo-1, 'f', -1, 64))
		g.setBody(KindOutOfRange, l, "below the minimum: "+string(n), with(root, l, n, false))
	}
	if !math.IsInf(hi, 1) && hi < math.MaxInt64 {
		n := json.Number(strconv.FormatFloat(hi+1, 'f', -1, 64))
		g.setBody(KindOutOfRange, l, "above the maximum: "+string(n), with(root, l, n, false))
	}
	for _, n := range []json.Number{"9223372036854775808", "-9223372036854775809", "1e400"} {
		g.setBody(KindOutOfRange, l, "set to "+string(n), with(root, l, n, false))
	}
}

func (g *generator) objectCases(s *openapi3.Schema, root any, l location, v any, depth int) {
	m, _ := v.(map[string]any)
	for _, name := range s.Required {
		if _, ok := m[name]; ok {
			g.setBody(KindMissing, l.child(name), "left out", with(root, l.child(name), nil, true))
		}
	}
	g.setBody(KindUnknownField, l.child("x_badinput_unknown"), "added", with(root, l.child("x_badinput_unknown"), true, false))
	if freeForm(s) {
		// Whatever the object may hold is stored as is: try what storage may refuse.
		g.setBody(KindOddChars, l.child("x_badinput_nul"), "NUL in a free-form value", with(root, l.child("x_badinput_nul"), "a\x00b", false))
		g.setBody(KindOddChars, l.child("x\x00nul"), "NUL in a free-form key", with(root, l.child("x\x00nul"), 1, false))
		g.rawString(KindInvalidUTF8, l.child("x_badinput_utf8"), `bytes \xff\xfe in a free-form value`, root, "ab\xff\xfecd")
		g.setBody(KindOddChars, l.child("x_badinput_deep"), "nested free-form value", with(root, l.child("x_badinput_deep"), map[string]any{"a": []any{json.Number("1e308"), json.Number("-0"), "\u2028\U0001F600", nil}}, false))
	}
	if s.MaxProps != nil && *s.MaxProps < 10000 {
		big := map[string]any{}
		for k, x := range m {
			big[k] = x
		}
		var filler any = "v"
		if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
			filler = Baseline(ap.Value)
		}
		for i := 0; uint64(len(big)) <= *s.MaxProps; i++ {
			big[fmt.Sprintf("k%d", i)] = filler
		}
		g.setBody(KindItemCount, l, fmt.Sprintf("%d properties (maxProperties %d)", len(big), *s.MaxProps), with(root, l, big, false))
	}
	for _, name := range sortedKeys(s.Properties) {
		prop := s.Properties[name].Value
		r := root
		if _, ok := m[name]; !ok {
			// An optional property the baseline leaves out: set it, then break it.
			r = with(root, l.child(name), Baseline(prop), false)
		}
		g.walk(prop, r, l.child(name), depth+1)
	}
	if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil && len(s.Properties) == 0 {
		for k := range m {
			g.walk(ap.Value, root, l.child(k), depth+1)
			break
		}
	}
}

func (g *generator) arrayCases(s *openapi3.Schema, root any, l location, v any, depth int) {
	a, _ := v.([]any)
	if s.MaxItems != nil && *s.MaxItems < 10000 && len(a) > 0 {
		many := make([]any, *s.MaxItems+1)
		for i := range many {
			many[i] = a[0]
		}
		g.setBody(KindItemCount, l, fmt.Sprintf("%d items (maxItems %d)", len(many), *s.MaxItems), with(root, l, many, false))
	}
	if s.MinItems > 0 {
		g.setBody(KindItemCount, l, fmt.Sprintf("%d items (minItems %d)", s.MinItems-1, s.MinItems), with(root, l, a[:s.MinItems-1], false))
	}
	if s.Items != nil && len(a) > 0 {
		g.walk(s.Items.Value, root, l.child(0), depth+1)
	}
}

// wholeBodyCases break the body as a document: syntax, type, size and media type.
func (g *generator) wholeBodyCases() {
	base := g.base.Body
	raw := func(kind Kind, detail string, body []byte) {
		r := g.base.clone()
		r.Body = body
		g.add(kind, "body", detail, r)
	}
	raw(KindMalformed, "truncated", base[:len(base)/2])
	raw(KindMalformed, "trailing data", append(slices.Clone(base), []byte(" x")...))
	raw(KindMalformed, "two documents", append(slices.Clone(base), base...))
	raw(KindMalformed, "unterminated string", []byte(`{"a`))
	raw(KindMalformed, "single quotes", []byte(`{'a':1}`))
	raw(KindMalformed, "trailing comma", []byte(`{"a":1,}`))
	raw(KindMalformed, "nested 100000 deep", append(bytes.Repeat([]byte("["), 100000), bytes.Repeat([]byte("]"), 100000)...))
	raw(KindMalformed, "object nested 20000 deep", []byte(strings.Repeat(`{"a":`, 20000)+"1"+strings.Repeat("}", 20000)))
	raw(KindInvalidUTF8, "outside strings", append([]byte{0xff, 0xfe}, base...))
	raw(KindInvalidUTF8, "UTF-16 with BOM", utf16(base))
	raw(KindMalformed, "UTF-8 BOM", append([]byte{0xef, 0xbb, 0xbf}, base...))
	if m, ok := g.baseBody.(map[string]any); ok && len(m) > 0 {
		k := sortedAnyKeys(m)[0]
		dup := mustJSON(m)
		dup = append([]byte(`{`+string(mustJSON(k))+`:`+string(mustJSON(m[k]))+`,`), dup[1:]...)
		raw(KindOddChars, "duplicate key "+k, dup)
	}
	for _, doc := range []string{`[]`, `"x"`, `1`, `null`, `true`, `[` + string(base) + `]`} {
		raw(KindNotObject, doc[:min(len(doc), 12)], []byte(doc))
	}
	raw(KindEmptyBody, "body", nil)
	raw(KindMalformed, "whitespace only", []byte(" \n\t "))

	noBody := g.base.clone()
	noBody.SendBody, noBody.Body, noBody.ContentType = false, nil, ""
	g.add(KindEmptyBody, "body", "no body, no Content-Type", noBody)

	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml", "", "application/json; charset=utf-8", "APPLICATION/JSON", "application/jsonx", "application/problem+json", "multipart/form-data; boundary=x", ";;;"} {
		r := g.base.clone()
		r.ContentType = ct
		if ct == "" {
			r.Header.Del("Content-Type")
		}
		g.add(KindContentType, "Content-Type", strconv.Quote(ct), r)
	}

	if limit := g.o.MaxBodyBytes; limit > 0 && limit < 64<<20 {
		pad := limit + 1 - int64(len(`{"x_pad":""}`))
		big := []byte(`{"x_pad":"` + strings.Repeat("a", int(max(pad, 0))) + `"}`)
		raw(KindTooLarge, fmt.Sprintf("%d bytes with Content-Length", len(big)), big)
		r := g.base.clone()
		r.Body, r.Chunked = big, true
		g.add(KindTooLarge, "body", fmt.Sprintf("%d bytes chunked", len(big)), r)
	}
}

func utf16(b []byte) []byte {
	out := []byte{0xff, 0xfe}
	for _, c := range b {
		out = append(out, c, 0)
	}
	return out
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// methodCase sends a method the operation's path does not define, once per path (from
// the path's first operation in the sorted list).
func (g *generator) methodCase(s *Spec) {
	for _, op := range s.Operations {
		if op.Path != g.op.Path {
			continue
		}
		if op != g.op {
			return
		}
		break
	}
	defined := map[string]bool{}
	for _, op := range s.Operations {
		if op.Path == g.op.Path {
			defined[op.Method] = true
		}
	}
	for _, m := range []string{http.MethodPatch, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodGet} {
		if !defined[m] {
			r := g.base.clone()
			r.Method = m
			g.add(KindMethod, "method", m, r)
			return
		}
	}
}
