package audit

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The encoders here write, without reflection and into a caller's buffer, exactly the
// bytes encoding/json writes for the same values (HTML characters escaped, as
// json.Marshal does). The audit trail depends on that byte for byte: the canonical
// encoding is what the hash covers, and the sink's lines must not change. encode_test.go
// compares them with encoding/json.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as json.Marshal escapes it: <, > and &
// as \u003c and the like, invalid UTF-8 as \ufffd, U+2028 and U+2029 as escapes.
func appendString(dst []byte, s string) []byte {
	return appendStringAs(dst, s, `\ufffd`)
}

// appendCanonicalString appends s as it reads after a round trip through encoding/json
// (encode, decode, encode): like appendString, except that each invalid byte becomes
// U+FFFD itself rather than its escape.
func appendCanonicalString(dst []byte, s string) []byte {
	return appendStringAs(dst, s, "\ufffd")
}

func appendStringAs(dst []byte, s, invalid string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, invalid...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendPlain appends v encoded as json.Marshal encodes it, if v holds only values
// whose encoding is already canonical (see plainJSON): maps with string keys, []any,
// []string, valid UTF-8 strings, booleans, nil, json.Number, float64 and the integer
// types plainJSON names. Otherwise it reports false, and dst's new bytes are garbage.
func appendPlain(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case string:
		if !utf8.ValidString(x) {
			return dst, false
		}
		return appendString(dst, x), true
	case int:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case uint64:
		return strconv.AppendUint(dst, x, 10), true
	case float64:
		return appendFloat(dst, x)
	case json.Number:
		n := x.String()
		if n == "" {
			n = "0"
		}
		if !isValidNumber(n) {
			return dst, false
		}
		return append(dst, n...), true
	case map[string]any:
		return appendPlainMap(dst, x)
	case []any:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendPlain(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case []string:
		return appendStrings(dst, x)
	}
	return dst, false
}

// appendPlainMap is appendPlain for a map: its keys sorted, as encoding/json sorts them.
func appendPlainMap(dst []byte, m map[string]any) ([]byte, bool) {
	if m == nil {
		return append(dst, "null"...), true
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		if !utf8.ValidString(k) {
			return dst, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = appendPlain(dst, m[k]); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// appendStrings appends ss as a JSON array (null when nil), if its strings are valid
// UTF-8.
func appendStrings(dst []byte, ss []string) ([]byte, bool) {
	if ss == nil {
		return append(dst, "null"...), true
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if !utf8.ValidString(s) {
			return dst, false
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']'), true
}

// appendFloat appends f as encoding/json writes a float64; NaN and infinities, which it
// refuses, report false.
func appendFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07, not 1e-7: as encoding/json, drop the exponent's leading zero.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

// isValidNumber reports whether s is a JSON number (encoding/json's check for a
// json.Number it encodes).
func isValidNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	default:
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

// appendCanonicalRecord appends the canonical encoding of rec with the given canonical
// detail (see ComputeHash): what json.Marshal writes for a canonical struct.
func appendCanonicalRecord(dst []byte, r *Record, detail string) []byte {
	dst = append(dst, `{"action":`...)
	dst = appendString(dst, r.Action)
	dst = append(dst, `,"detail":`...)
	dst = append(dst, detail...)
	dst = append(dst, `,"outcome":`...)
	dst = appendString(dst, r.Outcome)
	dst = append(dst, `,"prev_hash":`...)
	dst = appendString(dst, r.PrevHash)
	dst = append(dst, `,"principal":`...)
	dst = appendString(dst, r.Principal)
	dst = append(dst, `,"request_id":`...)
	dst = appendString(dst, r.RequestID)
	dst = append(dst, `,"resource":`...)
	dst = appendString(dst, r.Resource)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, r.Seq, 10)
	dst = append(dst, `,"tenant_id":`...)
	dst = appendString(dst, r.TenantID)
	// RFC 3339 text holds nothing a JSON string escapes.
	dst = append(dst, `,"time":"`...)
	dst = r.Time.UTC().Truncate(time.Microsecond).AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}`...)
}

// appendRecordJSON appends rec as json.Marshal(rec) encodes it: one JSON line of the
// sink, without its newline.
func appendRecordJSON(dst []byte, r *Record) ([]byte, error) {
	dst = append(dst, `{"tenant_id":`...)
	dst = appendString(dst, r.TenantID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, r.Seq, 10)
	dst = append(dst, `,"time":"`...)
	var err error
	if dst, err = r.Time.AppendText(dst); err != nil {
		return dst, err
	}
	dst = append(dst, `","principal":`...)
	dst = appendString(dst, r.Principal)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, r.Action)
	dst = append(dst, `,"resource":`...)
	dst = appendString(dst, r.Resource)
	dst = append(dst, `,"outcome":`...)
	dst = appendString(dst, r.Outcome)
	dst = append(dst, `,"request_id":`...)
	dst = appendString(dst, r.RequestID)
	switch {
	case r.Encoded.canonical != "":
		if d := r.Encoded.plain(); d != "{}" {
			dst = append(dst, `,"detail":`...)
			dst = append(dst, d...)
		}
	case len(r.Detail) > 0:
		dst = append(dst, `,"detail":`...)
		mark := len(dst)
		var ok bool
		if dst, ok = appendPlainMap(dst, r.Detail); !ok {
			b, err := json.Marshal(r.Detail)
			if err != nil {
				return dst, err
			}
			dst = append(dst[:mark], b...)
		}
	}
	dst = append(dst, `,"prev_hash":`...)
	dst = appendString(dst, r.PrevHash)
	dst = append(dst, `,"hash":`...)
	dst = appendString(dst, r.Hash)
	return append(dst, '}'), nil
}
