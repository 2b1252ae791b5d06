package provider

import (
	"errors"
	"fmt"
	"sync"

	"github.com/go-faster/jx"
)

// Field is a top-level member to set in a JSON object: Value is raw JSON.
type Field struct {
	Key   string
	Value []byte
}

// SetFields returns the JSON object body with each field set: an existing member keeps
// its place and gets the new value, a new one is appended. Every other member is copied
// byte for byte, so unknown fields reach the upstream untouched. Of members with the
// same key as a field, only the first is kept (with the new value). Keys are written
// re-encoded from their decoded text; values are copied raw.
//
// The fields' keys must differ from one another. Setting a and then b in two calls gives
// the same bytes as setting a and b in one (the router relies on it: a call's edits and
// the deployment's model name are applied in one pass).
func SetFields(body []byte, fields ...Field) ([]byte, error) {
	s := setterPool.Get().(*fieldSetter)
	defer s.release()
	s.d.ResetBytes(body)
	if s.d.Next() != jx.Object {
		return nil, errors.New("request body is not a JSON object")
	}
	s.fields = append(s.fields[:0], fields...) // a copy: the caller's slice stays on its stack
	s.done = append(s.done[:0], make([]bool, len(fields))...)
	s.w.Buf = make([]byte, 0, len(body)+64)
	s.w.Buf = append(s.w.Buf, '{')
	s.first = true
	if err := s.d.ObjBytes(s.onMember); err != nil {
		return nil, fmt.Errorf("rewrite request body: %w", err)
	}
	for i, f := range fields {
		if !s.done[i] {
			s.member(f.Key, nil, f.Value)
		}
	}
	return append(s.w.Buf, '}'), nil
}

// fieldSetter is the state of one SetFields pass, pooled: the decoder, the writer that
// encodes keys and the method value handed to ObjBytes are reused, not allocated per call.
type fieldSetter struct {
	d        jx.Decoder
	w        jx.Writer
	fields   []Field
	done     []bool
	first    bool
	onMember func(d *jx.Decoder, key []byte) error
}

var setterPool = sync.Pool{New: func() any {
	s := &fieldSetter{}
	s.onMember = s.decoded
	return s
}}

// release drops every reference to the caller's bytes and returns s to the pool.
func (s *fieldSetter) release() {
	s.d.ResetBytes(nil)
	s.w.Buf = nil
	clear(s.fields)
	s.fields = s.fields[:0]
	setterPool.Put(s)
}

// decoded handles one member of the input object.
func (s *fieldSetter) decoded(d *jx.Decoder, key []byte) error {
	raw, err := d.Raw()
	if err != nil {
		return err
	}
	for i, f := range s.fields {
		if f.Key == string(key) {
			if s.done[i] {
				return nil // a duplicate key: keep only the value we set
			}
			s.done[i] = true
			s.member("", key, f.Value)
			return nil
		}
	}
	s.member("", key, raw)
	return nil
}

// member writes one member: the key (keyStr, or keyBytes when it is nil) and its raw value.
func (s *fieldSetter) member(keyStr string, keyBytes, value []byte) {
	if !s.first {
		s.w.Buf = append(s.w.Buf, ',')
	}
	s.first = false
	if keyBytes != nil {
		s.w.ByteStr(keyBytes)
	} else {
		s.w.Str(keyStr)
	}
	s.w.Buf = append(s.w.Buf, ':')
	s.w.Buf = append(s.w.Buf, value...)
}

// GetField returns the raw value of a top-level member ("" when absent).
func GetField(body []byte, key string) []byte {
	var out []byte
	s := setterPool.Get().(*fieldSetter)
	defer s.release()
	s.d.ResetBytes(body)
	_ = s.d.ObjBytes(func(d *jx.Decoder, k []byte) error {
		if string(k) != key || out != nil {
			return d.Skip()
		}
		raw, err := d.Raw()
		out = raw
		return err
	})
	return out
}
