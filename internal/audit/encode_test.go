package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// canonical is the canonical encoding of a Record as it was first written: a struct
// whose fields are declared in sorted key order, encoded by encoding/json. The
// hand-written encoders must give the same bytes.
type canonical struct {
	Action    string          `json:"action"`
	Detail    json.RawMessage `json:"detail"`
	Outcome   string          `json:"outcome"`
	PrevHash  string          `json:"prev_hash"`
	Principal string          `json:"principal"`
	RequestID string          `json:"request_id"`
	Resource  string          `json:"resource"`
	Seq       int64           `json:"seq"`
	TenantID  string          `json:"tenant_id"`
	Time      string          `json:"time"`
}

// referenceHash is ComputeHash as it was first written, on encoding/json alone.
func referenceHash(t *testing.T, r Record) string {
	t.Helper()
	detail := []byte("{}")
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		require.NoError(t, err)
		detail, err = canonicalJSON(b)
		require.NoError(t, err)
	}
	b, err := json.Marshal(canonical{
		Action: r.Action, Detail: detail, Outcome: r.Outcome, PrevHash: r.PrevHash,
		Principal: r.Principal, RequestID: r.RequestID, Resource: r.Resource, Seq: r.Seq,
		TenantID: r.TenantID, Time: r.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
	})
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// trickyStrings are strings whose JSON escaping has special cases.
var trickyStrings = []string{
	"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>", "\b\f\n\r\t\x00\x01\x1f\x7f",
	"ünïcödé €𝄞", "\u2028\u2029", "\xff", "a\xc3", "\xed\xa0\x80", "\ufffd", "tab\there",
}

// randomString returns a string of random bytes, often ASCII, sometimes anything.
func randomString(r *rand.Rand) string {
	b := make([]byte, r.IntN(24))
	for i := range b {
		if r.IntN(4) == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = byte(r.IntN(128))
		}
	}
	return string(b)
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	strs := slices.Clone(trickyStrings)
	for range 5000 {
		strs = append(strs, randomString(r))
	}
	for _, s := range strs {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendString(nil, s)), "%q", s)

		// Canonical: encoded, decoded and encoded again.
		var back string
		require.NoError(t, json.Unmarshal(want, &back))
		want, err = json.Marshal(back)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendCanonicalString(nil, s)), "%q", s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendString(nil, s)))
	})
}

func TestAppendPlainMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	values := []any{
		nil, true, false, 0, -1, int32(-7), int64(math.MinInt64), uint32(math.MaxUint32), uint64(math.MaxUint64),
		0.0, -0.0, 1.5, 1e21, 1e20, 1e-6, 1e-7, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64,
		json.Number("4096"), json.Number("-1.50e+07"), json.Number(""),
		[]any{}, []any(nil), []string{}, []string(nil), []string{"b", "a<"},
		map[string]any{}, map[string]any(nil), map[string]any{"z": 1, "a": []any{"x", map[string]any{"k": nil}}, "é": true},
	}
	for _, s := range trickyStrings {
		values = append(values, s, map[string]any{s: s})
	}
	for range 2000 {
		values = append(values, math.Float64frombits(r.Uint64()), r.NormFloat64()*math.Pow(10, float64(r.IntN(60)-30)))
	}
	for _, v := range values {
		want, wantErr := json.Marshal(v)
		got, ok := appendPlain(nil, v)
		if !ok {
			// Not plain: either encoding/json refuses it, or it is not canonical as
			// encoded (invalid UTF-8), which plainJSON says too.
			require.True(t, wantErr != nil || !plainJSON(v), "%#v", v)
			continue
		}
		require.NoError(t, wantErr, "%#v", v)
		require.Equal(t, string(want), string(got), "%#v", v)
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), json.Number("01"), json.Number("1e"), struct{}{}, map[string]string{}} {
		_, ok := appendPlain(nil, bad)
		require.False(t, ok, "%#v", bad)
	}
}

// detailCases are details, each with a key that the DetailWriter writes through
// something else than Any.
var detailCases = []map[string]any{
	nil,
	{},
	{"model": "up-chat"},
	{"attempts": 1, "completion_tokens": int64(9), "decision": "allow", "deployment": "up/upstream-model", "max_tokens": int64(4096),
		"model": "up-chat", "obligations": map[string]any{"max_tokens": json.Number("4096")}, "policy_revision": "sha256:abc",
		"prompt_tokens": int64(12), "total_tokens": int64(21), "usage_estimated": true},
	{"decision": "deny", "error": "denied by policy: <tools> & more", "model": "m", "reasons": []string{"tool x is not allowed", "\u2028"}, "status": 403},
	{"decision": "deny", "model": "m", "reasons": []string(nil)},
	{"error": "upstream said \xff\xfe", "model": "bad\xc3utf8", "status": 502},
	{"extra": struct {
		B int    `json:"b"`
		A string `json:"a"`
	}{1, "x"}, "model": "m"},
	{"f": 0.1, "n": json.Number("1.50"), "z": []any{1, "two", nil}},
}

// writeDetail writes d through a DetailWriter, each value with its typed method.
func writeDetail(d map[string]any) EncodedDetail {
	w := NewDetailWriter(64)
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch v := d[k].(type) {
		case string:
			w.String(k, v)
		case int64:
			w.Int(k, v)
		case bool:
			w.Bool(k, v)
		case []string:
			w.Strings(k, v)
		default:
			w.Any(k, v)
		}
	}
	return w.Detail()
}

func TestDetailWriterMatchesDetailMaps(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 11, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, d := range detailCases {
		enc := writeDetail(d)
		require.NoError(t, enc.err)

		wantCanonical := "{}"
		if len(d) > 0 {
			b, err := canonicalDetail(d)
			require.NoError(t, err)
			wantCanonical = string(b)
		}
		require.Equal(t, wantCanonical, enc.canonical, "%v", d)

		byMap := Record{TenantID: "tnt_<a>", Seq: 7, Time: at, Principal: "dev", Action: "model.chat.completions",
			Resource: "models/up-chat", Outcome: OutcomeSuccess, RequestID: "req_1", Detail: d, PrevHash: "p", Hash: "h"}
		byEnc := byMap
		byEnc.Detail, byEnc.Encoded = nil, enc
		require.Equal(t, referenceHash(t, byMap), byMap.ComputeHash(), "%v", d)
		require.Equal(t, byMap.ComputeHash(), byEnc.ComputeHash(), "%v", d)

		// The sink's line: as json.Marshal wrote it, whichever way the detail came.
		want, err := json.Marshal(byMap)
		require.NoError(t, err)
		got, err := appendRecordJSON(nil, &byMap)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%v", d)
		got, err = appendRecordJSON(nil, &byEnc)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%v", d)
	}
}

func TestDetailWriterRefusesWhatJSONCannotEncode(t *testing.T) {
	t.Parallel()
	w := NewDetailWriter(0)
	w.String("a", "x")
	w.Any("b", math.NaN())
	enc := w.Detail()
	require.Error(t, enc.err)
	r := Record{TenantID: "t", Encoded: enc}
	_, err := r.canonicalDetail()
	require.Error(t, err)
	_, err = json.Marshal(map[string]any{"b": math.NaN()})
	require.Error(t, err, "a Detail map with the same value is refused too")

	require.Panics(t, func() {
		w := NewDetailWriter(0)
		w.String("b", "x")
		w.String("a", "x")
	}, "keys out of order")
}

func TestComputeHashMatchesReference(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 500 {
		rec := Record{
			TenantID: randomString(r), Seq: r.Int64(), Principal: randomString(r), Action: randomString(r),
			Resource: randomString(r), Outcome: randomString(r), RequestID: randomString(r), PrevHash: randomString(r),
			Time: time.Unix(r.Int64N(1<<35), r.Int64N(1e9)),
		}
		if i%2 == 0 {
			rec.Detail = map[string]any{"k": randomString(r), randomString(r): r.Int64()}
		}
		require.Equal(t, referenceHash(t, rec), rec.ComputeHash(), "%#v", rec)
		want, err := json.Marshal(rec)
		require.NoError(t, err)
		got, err := appendRecordJSON(nil, &rec)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%#v", rec)
	}
}
