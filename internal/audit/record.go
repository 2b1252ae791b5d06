// Package audit keeps AgentOS's audit trail: one record per mutation or
// policy decision, hash-chained per tenant in the database and copied to a
// sink (stdout, stderr or a file) once the change commits.
//
// Each tenant's records form a chain: record n carries the hash of record
// n-1 (PrevHash; "" for seq 1) and a hash over its own contents (Hash), and
// the audit_heads row remembers the newest seq and hash. Verify walks the
// chains and reports edited, inserted and deleted records.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Outcomes of an audited action.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Record is one audit record.
type Record struct {
	// TenantID is the tenant the action was taken in or on; platform actions
	// on a tenant (creating it, say) are recorded in that tenant.
	TenantID string `json:"tenant_id"`
	// Seq is the record's position in its tenant's chain, from 1, assigned
	// by Append.
	Seq int64 `json:"seq"`
	// Time is when the action happened, UTC, truncated to microseconds by
	// Append; Append sets it to the current time when it is zero.
	Time time.Time `json:"time"`
	// Principal is who acted.
	Principal string `json:"principal"`
	// Action is what was done, as "<resource kind>.<verb>", e.g. "tenant.put".
	Action string `json:"action"`
	// Resource names what it was done to, e.g. "tenants/tnt_a".
	Resource string `json:"resource"`
	// Outcome is OutcomeSuccess, OutcomeFailure or OutcomeDenied.
	Outcome string `json:"outcome"`
	// RequestID ties the record to the request that caused it.
	RequestID string `json:"request_id"`
	// Detail holds anything else worth keeping; it must encode as JSON.
	Detail map[string]any `json:"detail,omitempty"`
	// Encoded is the detail encoded in advance (see DetailWriter), instead of Detail:
	// a record has one or the other. The sink writes it as the "detail" member.
	Encoded EncodedDetail `json:"-"`
	// PrevHash is the Hash of the tenant's previous record, "" for seq 1;
	// assigned by Append.
	PrevHash string `json:"prev_hash"`
	// Hash is ComputeHash of the record; assigned by Append.
	Hash string `json:"hash"`
}

// ComputeHash returns the lowercase hex SHA-256 of the record's canonical
// encoding, which covers every field except Hash. The encoding is the JSON
// object, without whitespace and with keys in this (sorted) order:
//
//	{"action":A,"detail":D,"outcome":O,"prev_hash":P,"principal":U,
//	 "request_id":R,"resource":S,"seq":N,"tenant_id":T,"time":M}
//
// Strings are escaped as encoding/json escapes them (HTML characters as
// \u003c and the like, invalid UTF-8 as U+FFFD); seq is a decimal integer;
// time is Time in UTC, truncated to microseconds, formatted with
// time.RFC3339Nano (so trailing zeros of the fraction are dropped, e.g.
// "2026-03-01T11:00:00.123456Z"); detail is Detail as canonical JSON: {} when
// Detail is nil or empty, otherwise Detail encoded by encoding/json, decoded
// into maps, slices and json.Number, and encoded again, which sorts object
// keys at every depth and keeps numbers as first written. A Detail that
// encoding/json cannot encode (Append refuses those) is hashed as null.
func (r Record) ComputeHash() string {
	detail, err := r.canonicalDetail()
	if err != nil {
		detail = "null"
	}
	return r.hashWith(detail)
}

// hashWith returns the record's hash given its canonical detail.
func (r *Record) hashWith(detail string) string {
	var buf [1024]byte
	sum := sha256.Sum256(appendCanonicalRecord(buf[:0], r, detail))
	var out [sha256.Size * 2]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// canonicalDetail returns the record's detail as canonical JSON: Encoded's, or
// Detail's (see ComputeHash).
func (r *Record) canonicalDetail() (string, error) {
	if !r.Encoded.IsZero() {
		return r.Encoded.canonical, r.Encoded.err
	}
	if len(r.Detail) == 0 {
		return "{}", nil
	}
	b, err := canonicalDetail(r.Detail)
	return string(b), err
}

// canonicalDetail returns detail as canonical JSON (see ComputeHash).
func canonicalDetail(detail map[string]any) ([]byte, error) {
	if len(detail) == 0 {
		return []byte("{}"), nil
	}
	// encoding/json sorts map keys at every depth and writes each plain value as
	// decoding and re-encoding would, so plain JSON is canonical as it is; appendPlain
	// writes it as encoding/json would, without reflection.
	if b, ok := appendPlainMap(make([]byte, 0, 256), detail); ok {
		return b, nil
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("encode detail: %w", err)
	}
	if plainJSON(detail) {
		return b, nil
	}
	return canonicalJSON(b)
}

// plainJSON reports whether v holds only maps with string keys, slices, valid UTF-8
// strings, booleans, nil and integers or float64s: values whose encoding/json encoding
// is already canonical.
func plainJSON(v any) bool {
	switch x := v.(type) {
	case nil, bool, int, int32, int64, uint32, uint64, float64, json.Number:
		return true
	case string:
		return utf8.ValidString(x)
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || !plainJSON(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !plainJSON(e) {
				return false
			}
		}
		return true
	case []string:
		for _, e := range x {
			if !utf8.ValidString(e) {
				return false
			}
		}
		return true
	}
	return false
}

// canonicalJSON re-encodes the JSON object b with sorted keys and numbers
// kept as written.
func canonicalJSON(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode detail: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode detail: trailing data")
	}
	if len(v) == 0 {
		return []byte("{}"), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode detail: %w", err)
	}
	return out, nil
}

// decodeDetail decodes stored detail JSON; {} decodes to nil.
func decodeDetail(s string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode detail: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode detail: trailing data")
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}
