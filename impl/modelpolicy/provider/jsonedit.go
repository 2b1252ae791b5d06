package provider

import (
	"errors"
	"fmt"

	"github.com/go-faster/jx"
)

// Field is a top-level member to set in a JSON object: Value is raw JSON.
type Field struct {
	Key   string
	Value []byte
}

// SetFields returns the JSON object body with each field set: an existing member keeps
// its place and gets the new value, a new one is appended. Every other member is copied
// byte for byte, so unknown fields reach the upstream untouched.
func SetFields(body []byte, fields ...Field) ([]byte, error) {
	d := jx.DecodeBytes(body)
	if d.Next() != jx.Object {
		return nil, errors.New("request body is not a JSON object")
	}
	out := make([]byte, 0, len(body)+64)
	out = append(out, '{')
	done := make([]bool, len(fields))
	first := true
	member := func(key, value []byte) {
		if !first {
			out = append(out, ',')
		}
		first = false
		w := jx.Writer{Buf: out}
		w.Str(string(key))
		out = append(w.Buf, ':')
		out = append(out, value...)
	}
	err := d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		raw, err := d.Raw()
		if err != nil {
			return err
		}
		for i, f := range fields {
			if f.Key == string(key) {
				if done[i] {
					return nil // a duplicate key: keep only the value we set
				}
				done[i] = true
				member(key, f.Value)
				return nil
			}
		}
		member(key, raw)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rewrite request body: %w", err)
	}
	for i, f := range fields {
		if !done[i] {
			member([]byte(f.Key), f.Value)
		}
	}
	return append(out, '}'), nil
}

// GetField returns the raw value of a top-level member ("" when absent).
func GetField(body []byte, key string) []byte {
	var out []byte
	d := jx.DecodeBytes(body)
	_ = d.ObjBytes(func(d *jx.Decoder, k []byte) error {
		if string(k) != key || out != nil {
			return d.Skip()
		}
		raw, err := d.Raw()
		out = raw
		return err
	})
	return out
}
