package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// EncodedDetail is a record's detail encoded in advance by a DetailWriter, for callers
// on a hot path that would rather not build a map[string]any per record and have it
// encoded (and its keys sorted) again when the record is written. A Record that
// carries one (Record.Encoded) has no Detail map; its hash and stored detail are
// exactly those of the equivalent map.
type EncodedDetail struct {
	// canonical is the detail's canonical JSON (see ComputeHash); "" for none.
	canonical string
	// sink is what json.Marshal writes for the equivalent map, where that differs from
	// canonical (a string with invalid UTF-8, a value that is not plain JSON); "" when
	// it does not.
	sink string
	// err is why the detail cannot be encoded; Append refuses such a record.
	err error
}

// IsZero reports whether e holds no detail.
func (e EncodedDetail) IsZero() bool { return e.canonical == "" && e.err == nil }

// plain is the detail as json.Marshal writes the equivalent map.
func (e EncodedDetail) plain() string {
	if e.sink != "" {
		return e.sink
	}
	return e.canonical
}

// DetailWriter builds an EncodedDetail member by member. Members must be written in
// increasing key order (the canonical order) with distinct, valid UTF-8 keys; a key out
// of order panics, as it is a programming error. Each member is what the same key and
// value in a Record.Detail map would give.
type DetailWriter struct {
	buf []byte
	// alt is the sink's encoding, kept apart only once it differs from buf.
	alt  []byte
	last string
	n    int
	err  error
}

// NewDetailWriter returns a writer with room for size bytes of detail.
func NewDetailWriter(size int) *DetailWriter {
	w := &DetailWriter{}
	w.Reset(size)
	return w
}

// Reset empties w, keeping its buffer (and room for at least size bytes); the
// EncodedDetail it gave before stays valid.
func (w *DetailWriter) Reset(size int) {
	buf := w.buf[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	*w = DetailWriter{buf: append(buf, '{')}
}

func (w *DetailWriter) key(k string) {
	if w.n > 0 && k <= w.last || !utf8.ValidString(k) {
		panic(fmt.Sprintf("audit: detail key %q written out of order or not valid UTF-8", k))
	}
	w.last = k
	sep := w.n > 0
	w.n++
	w.buf = appendKey(w.buf, k, sep)
	if w.alt != nil {
		w.alt = appendKey(w.alt, k, sep)
	}
}

func appendKey(dst []byte, k string, sep bool) []byte {
	if sep {
		dst = append(dst, ',')
	}
	dst = appendString(dst, k)
	return append(dst, ':')
}

// fork starts keeping the sink's encoding apart: both encodings agree up to here.
func (w *DetailWriter) fork() {
	if w.alt == nil {
		w.alt = append(make([]byte, 0, cap(w.buf)), w.buf...)
	}
}

// String writes a string member.
func (w *DetailWriter) String(k, v string) {
	w.key(k)
	if utf8.ValidString(v) {
		w.buf = appendString(w.buf, v)
		if w.alt != nil {
			w.alt = appendString(w.alt, v)
		}
		return
	}
	w.fork()
	w.buf = appendCanonicalString(w.buf, v)
	w.alt = appendString(w.alt, v)
}

// Int writes an integer member.
func (w *DetailWriter) Int(k string, v int64) {
	w.key(k)
	w.buf = strconv.AppendInt(w.buf, v, 10)
	if w.alt != nil {
		w.alt = strconv.AppendInt(w.alt, v, 10)
	}
}

// Bool writes a boolean member.
func (w *DetailWriter) Bool(k string, v bool) {
	w.key(k)
	w.buf = strconv.AppendBool(w.buf, v)
	if w.alt != nil {
		w.alt = strconv.AppendBool(w.alt, v)
	}
}

// Strings writes a []string member (null when v is nil).
func (w *DetailWriter) Strings(k string, v []string) {
	w.key(k)
	if b, ok := appendStrings(w.buf, v); ok {
		w.appended(b)
		return
	}
	w.value(v)
}

// Any writes a member of any value encoding/json can encode; an error to encode it
// makes the whole detail fail (see EncodedDetail).
func (w *DetailWriter) Any(k string, v any) {
	w.key(k)
	if b, ok := appendPlain(w.buf, v); ok {
		w.appended(b)
		return
	}
	w.value(v)
}

// appended takes b, w.buf with a plain value appended, whose canonical and sink
// encodings are the same.
func (w *DetailWriter) appended(b []byte) {
	if w.alt != nil {
		w.alt = append(w.alt, b[len(w.buf):]...)
	}
	w.buf = b
}

// value writes a value that is not plain JSON.
func (w *DetailWriter) value(v any) {
	sink, err := json.Marshal(v)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("encode detail: %w", err)
		}
		return
	}
	// Canonical JSON of a value that is not plain: decoded into maps, slices and
	// json.Number, and encoded again (as canonicalJSON does with a whole detail).
	dec := json.NewDecoder(bytes.NewReader(sink))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("decode detail: %w", err)
		}
		return
	}
	canonical, err := json.Marshal(x)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("encode detail: %w", err)
		}
		return
	}
	if !bytes.Equal(canonical, sink) {
		w.fork()
	}
	w.buf = append(w.buf, canonical...)
	if w.alt != nil {
		w.alt = append(w.alt, sink...)
	}
}

// Detail returns the detail written so far.
func (w *DetailWriter) Detail() EncodedDetail {
	if w.err != nil {
		return EncodedDetail{err: w.err}
	}
	e := EncodedDetail{canonical: string(append(w.buf, '}'))}
	if w.alt != nil {
		e.sink = string(append(w.alt, '}'))
	}
	return e
}
