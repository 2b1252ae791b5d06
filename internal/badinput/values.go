package badinput

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// maxDepth bounds how deep the baseline follows optional properties (required ones are
// always filled), so recursive schemas end.
const maxDepth = 6

// Valid returns why value (decoded JSON: map[string]any, []any, string, float64 or
// json.Number, bool, nil) does not satisfy schema, formats included (date-time, int32,
// …), or nil. Judge builds on it to label each case as breaking the document or not.
func Valid(schema *openapi3.Schema, value any) error {
	return schema.VisitJSON(value, openapi3.EnableFormatValidation(), openapi3.VisitAsRequest(), openapi3.MultiErrors())
}

// Baseline returns a value that satisfies schema: every required property, and the
// optional ones down to a depth, with type-correct values honouring enum, default,
// examples, pattern, length and range.
func Baseline(schema *openapi3.Schema) any {
	return baseline(schema, 0, nil)
}

func baseline(s *openapi3.Schema, depth int, seen []*openapi3.Schema) any {
	if s == nil {
		return "x"
	}
	for _, x := range seen {
		if x == s {
			return nil // a recursive schema: stop here
		}
	}
	seen = append(seen, s)
	if s.Const != nil {
		return s.Const
	}
	if len(s.Enum) > 0 {
		if s.Default != nil {
			return s.Default
		}
		return s.Enum[0]
	}
	if len(s.AllOf) > 0 {
		merged := map[string]any{}
		for _, sub := range s.AllOf {
			if m, ok := baseline(sub.Value, depth, seen).(map[string]any); ok {
				for k, v := range m {
					merged[k] = v
				}
			}
		}
		return merged
	}
	if len(s.OneOf) > 0 {
		return baseline(s.OneOf[0].Value, depth, seen)
	}
	if len(s.AnyOf) > 0 {
		return baseline(s.AnyOf[0].Value, depth, seen)
	}
	if ex := example(s); ex != nil {
		return ex
	}
	switch typeOf(s) {
	case openapi3.TypeObject:
		m := map[string]any{}
		for _, name := range sortedKeys(s.Properties) {
			prop := s.Properties[name].Value
			if !contains(s.Required, name) && depth >= maxDepth {
				continue
			}
			if prop.ReadOnly {
				continue
			}
			if v := baseline(prop, depth+1, seen); v != nil || contains(s.Required, name) {
				m[name] = v
			}
		}
		if ap := s.AdditionalProperties.Schema; len(s.Properties) == 0 && ap != nil && ap.Value != nil && depth < maxDepth {
			m["key1"] = baseline(ap.Value, depth+1, seen)
		}
		return m
	case openapi3.TypeArray:
		n := max(int(s.MinItems), 1)
		if s.MaxItems != nil && uint64(n) > *s.MaxItems {
			n = int(*s.MaxItems)
		}
		out := make([]any, 0, n)
		for range n {
			var item *openapi3.Schema
			if s.Items != nil {
				item = s.Items.Value
			}
			out = append(out, baseline(item, depth+1, seen))
		}
		return out
	case openapi3.TypeString:
		return baselineString(s)
	case openapi3.TypeInteger:
		return json.Number(strconv.FormatInt(baselineInt(s), 10))
	case openapi3.TypeNumber:
		lo, hi := bounds(s)
		v := 1.0
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		return json.Number(strconv.FormatFloat(v, 'f', -1, 64))
	case openapi3.TypeBoolean:
		return true
	case openapi3.TypeNull:
		return nil
	}
	return "x"
}

func example(s *openapi3.Schema) any {
	if s.Default != nil {
		return s.Default
	}
	if s.Example != nil {
		return s.Example
	}
	if len(s.Examples) > 0 {
		return s.Examples[0]
	}
	return nil
}

// typeOf returns the schema's type, guessing from its keywords when it declares none.
func typeOf(s *openapi3.Schema) string {
	if s.Type != nil {
		for _, t := range s.Type.Slice() {
			if t != openapi3.TypeNull {
				return t
			}
		}
		if len(s.Type.Slice()) > 0 {
			return s.Type.Slice()[0]
		}
	}
	switch {
	case len(s.Properties) > 0 || s.AdditionalProperties.Schema != nil || s.AdditionalProperties.Has != nil:
		return openapi3.TypeObject
	case s.Items != nil:
		return openapi3.TypeArray
	case s.Pattern != "" || s.MaxLength != nil || s.Format == "date-time":
		return openapi3.TypeString
	}
	return ""
}

func baselineInt(s *openapi3.Schema) int64 {
	lo, hi := bounds(s)
	v := int64(1)
	if float64(v) < lo {
		v = int64(math.Ceil(lo))
	}
	if float64(v) > hi {
		v = int64(math.Floor(hi))
	}
	return v
}

// bounds returns the inclusive numeric range a schema allows (exclusive bounds are
// narrowed by one for integers and by a tiny step otherwise).
func bounds(s *openapi3.Schema) (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	step := 1e-9
	if typeOf(s) == openapi3.TypeInteger {
		step = 1
		switch s.Format {
		case "int32":
			lo, hi = math.MinInt32, math.MaxInt32
		case "int64":
			lo, hi = math.MinInt64, math.MaxInt64
		}
	}
	if s.Min != nil {
		lo = math.Max(lo, *s.Min)
		if s.ExclusiveMin.Bool != nil && *s.ExclusiveMin.Bool {
			lo += step
		}
	}
	if v := s.ExclusiveMin.Value; v != nil {
		lo = math.Max(lo, *v+step)
	}
	if s.Max != nil {
		hi = math.Min(hi, *s.Max)
		if s.ExclusiveMax.Bool != nil && *s.ExclusiveMax.Bool {
			hi -= step
		}
	}
	if v := s.ExclusiveMax.Value; v != nil {
		hi = math.Min(hi, *v-step)
	}
	return lo, hi
}

func baselineString(s *openapi3.Schema) string {
	var v string
	switch s.Format {
	case "date-time":
		// A day ahead: fields such as deadlines must lie in the future.
		v = time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second).Format(time.RFC3339)
	case "date":
		v = time.Now().UTC().Add(24 * time.Hour).Format(time.DateOnly)
	case "uri", "url":
		v = "https://example.com/x"
	case "email":
		v = "a@example.com"
	case "uuid":
		v = "123e4567-e89b-12d3-a456-426614174000"
	case "duration":
		v = "PT1S"
	default:
		v = "a"
	}
	if s.Pattern != "" {
		if g, ok := matchingString(s.Pattern, int(s.MinLength), maxLen(s)); ok {
			return g
		}
	}
	for utf8.RuneCountInString(v) < int(s.MinLength) {
		v += "a"
	}
	if m := maxLen(s); utf8.RuneCountInString(v) > m {
		v = string([]rune(v)[:m])
	}
	return v
}

func maxLen(s *openapi3.Schema) int {
	if s.MaxLength != nil && *s.MaxLength < math.MaxInt32 {
		return int(*s.MaxLength)
	}
	return math.MaxInt32
}

var (
	reMu    sync.Mutex
	reCache = map[string]*regexp.Regexp{}
)

// compile compiles an ECMA-262 pattern as RE2 (nil when RE2 cannot express it).
func compile(pattern string) *regexp.Regexp {
	reMu.Lock()
	defer reMu.Unlock()
	re, ok := reCache[pattern]
	if !ok {
		re, _ = regexp.Compile(pattern)
		reCache[pattern] = re
	}
	return re
}

// matchingString returns a short string that matches pattern and has between minLen
// and maxLen runes.
func matchingString(pattern string, minLen, maxLen int) (string, bool) {
	re := compile(pattern)
	if re == nil {
		return "", false
	}
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	tree = tree.Simplify()
	for extra := 0; extra <= minLen+1; extra++ {
		var b strings.Builder
		if !generate(&b, tree, extra) {
			return "", false
		}
		v := b.String()
		n := utf8.RuneCountInString(v)
		if n >= minLen && n <= maxLen && re.MatchString(v) {
			return v, true
		}
	}
	return "", false
}

// generate writes a string that re matches, repeating each repeat extra times beyond
// its minimum (within its maximum).
func generate(b *strings.Builder, re *syntax.Regexp, extra int) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
		return true
	case syntax.OpCharClass:
		r, ok := pickRune(re.Rune)
		if ok {
			b.WriteRune(r)
		}
		return ok
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('a')
		return true
	case syntax.OpCapture:
		return generate(b, re.Sub[0], extra)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !generate(b, sub, extra) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		return generate(b, re.Sub[0], extra)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, -1
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
		}
		n := lo + extra
		if hi >= 0 && n > hi {
			n = hi
		}
		for range n {
			if !generate(b, re.Sub[0], extra) {
				return false
			}
		}
		return true
	}
	return false
}

// pickRune chooses a readable rune from a character class (pairs of inclusive ranges).
func pickRune(ranges []rune) (rune, bool) {
	in := func(r rune) bool {
		for i := 0; i+1 < len(ranges); i += 2 {
			if r >= ranges[i] && r <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	for _, r := range "aA0b_-" {
		if in(r) {
			return r, true
		}
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := max(ranges[i], 0x21); r <= ranges[i+1] && r < 0x7f; r++ {
			return r, true
		}
	}
	if len(ranges) >= 2 {
		return ranges[0], true
	}
	return 0, false
}

// patternBreaker returns a string within s's length limits that does not match its
// pattern, or false when none of the candidates does.
func patternBreaker(s *openapi3.Schema, valid string) (string, bool) {
	re := compile(s.Pattern)
	if re == nil {
		return "", false
	}
	candidates := []string{"!" + valid, valid + "!", "!", " " + valid, "é" + valid, strings.ToUpper(valid), valid + "\t", "~"}
	for _, c := range candidates {
		n := utf8.RuneCountInString(c)
		if n > maxLen(s) {
			c = string([]rune(c)[:maxLen(s)])
			n = maxLen(s)
		}
		if n >= int(s.MinLength) && !re.MatchString(c) {
			return c, true
		}
	}
	return "", false
}

// overlong returns a string one rune longer than maxLength that otherwise resembles
// valid (repeating its last rune, so a pattern such as [a-z]+ still matches).
func overlong(valid string, maxLength int) string {
	last := 'a'
	if r, _ := utf8.DecodeLastRuneInString(valid); r != utf8.RuneError && unicode.IsPrint(r) {
		last = r
	}
	n := maxLength + 1 - utf8.RuneCountInString(valid)
	if n <= 0 {
		return string([]rune(valid)[:maxLength+1])
	}
	return valid + strings.Repeat(string(last), n)
}

func sortedKeys(m openapi3.Schemas) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clone deep-copies decoded JSON.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = clone(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = clone(x)
		}
		return out
	}
	return v
}

// step is one element of a location in a JSON value: a property name or an index.
type step any

// location is the way from the root of a JSON value to one node.
type location []step

func (l location) String() string {
	var b strings.Builder
	b.WriteString("body")
	for _, s := range l {
		switch s := s.(type) {
		case string:
			b.WriteByte('.')
			b.WriteString(s)
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		}
	}
	return b.String()
}

func (l location) child(s step) location {
	return append(l[:len(l):len(l)], s)
}

// with returns a copy of root with the node at l replaced by v (or removed, when
// remove is set). The parent must exist.
func with(root any, l location, v any, remove bool) any {
	if len(l) == 0 {
		return v
	}
	root = clone(root)
	parent := root
	for _, s := range l[:len(l)-1] {
		switch s := s.(type) {
		case string:
			parent = parent.(map[string]any)[s]
		case int:
			parent = parent.([]any)[s]
		}
	}
	switch s := l[len(l)-1].(type) {
	case string:
		m := parent.(map[string]any)
		if remove {
			delete(m, s)
		} else {
			m[s] = v
		}
	case int:
		parent.([]any)[s] = v
	}
	return root
}

// get returns the node at l, and whether it exists.
func get(root any, l location) (any, bool) {
	v := root
	for _, s := range l {
		switch s := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s]; !ok {
				return nil, false
			}
		case int:
			a, ok := v.([]any)
			if !ok || s >= len(a) {
				return nil, false
			}
			v = a[s]
		}
	}
	return v, true
}
