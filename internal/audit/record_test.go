package audit_test

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/audit"
)

func sampleRecord() audit.Record {
	return audit.Record{
		TenantID:  "tnt_a",
		Seq:       7,
		Time:      time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600)),
		Principal: "usr_1",
		Action:    "tenant.put",
		Resource:  "tenants/tnt_a",
		Outcome:   audit.OutcomeSuccess,
		RequestID: "req_1",
		Detail:    map[string]any{"b": 1, "a": map[string]any{"z": true, "y": []any{1.5, "<x>"}}},
		PrevHash:  "abc",
	}
}

// The canonical encoding is part of the on-disk format: records hashed by
// one release must verify under the next. This pins it.
func TestComputeHashCanonicalEncoding(t *testing.T) {
	t.Parallel()
	const canonical = `{"action":"tenant.put","detail":{"a":{"y":[1.5,"\u003cx\u003e"],"z":true},"b":1},` +
		`"outcome":"success","prev_hash":"abc","principal":"usr_1","request_id":"req_1",` +
		`"resource":"tenants/tnt_a","seq":7,"tenant_id":"tnt_a","time":"2026-03-01T11:00:00.123456Z"}`
	sum := sha256.Sum256([]byte(canonical))
	want := hex.EncodeToString(sum[:])

	r := sampleRecord()
	require.Equal(t, want, r.ComputeHash())
	require.Equal(t, "58ae9ff964f7c6ccc1eef76dd3fe4eb25a2689aee9b6a88c0a0f91d9fff1afc6", want, "golden value")
}

func TestComputeHashStable(t *testing.T) {
	t.Parallel()
	base := sampleRecord()
	h := base.ComputeHash()

	same := base
	same.Hash = "anything"
	same.Time = base.Time.UTC().Truncate(time.Microsecond) // same microsecond, other zone
	same.Detail = map[string]any{"a": map[string]any{"y": []any{1.5, "<x>"}, "z": true}, "b": int64(1)}
	require.Equal(t, h, same.ComputeHash(), "Hash, zone, sub-microsecond time, key order and Go number types do not count")

	type inner struct {
		Z bool  `json:"z"`
		Y []any `json:"y"`
	}
	same.Detail = map[string]any{"b": 1.0, "a": inner{Z: true, Y: []any{1.5, "<x>"}}}
	require.Equal(t, h, same.ComputeHash(), "structs hash like the maps they decode to")

	empty := base
	empty.Detail = nil
	emptyMap := base
	emptyMap.Detail = map[string]any{}
	require.Equal(t, empty.ComputeHash(), emptyMap.ComputeHash(), "nil and empty detail are the same")

	bad := base
	bad.Detail = map[string]any{"x": math.NaN()}
	require.Len(t, bad.ComputeHash(), 64, "an unencodable detail still hashes")

	for name, edit := range map[string]func(*audit.Record){
		"tenant_id":  func(r *audit.Record) { r.TenantID = "tnt_b" },
		"seq":        func(r *audit.Record) { r.Seq++ },
		"time":       func(r *audit.Record) { r.Time = r.Time.Add(time.Microsecond) },
		"principal":  func(r *audit.Record) { r.Principal = "usr_2" },
		"action":     func(r *audit.Record) { r.Action = "tenant.delete" },
		"resource":   func(r *audit.Record) { r.Resource = "tenants/tnt_b" },
		"outcome":    func(r *audit.Record) { r.Outcome = audit.OutcomeDenied },
		"request_id": func(r *audit.Record) { r.RequestID = "req_2" },
		"detail":     func(r *audit.Record) { r.Detail = map[string]any{"b": 2} },
		"prev_hash":  func(r *audit.Record) { r.PrevHash = "abd" },
	} {
		r := sampleRecord()
		edit(&r)
		require.NotEqual(t, h, r.ComputeHash(), name)
	}
}
