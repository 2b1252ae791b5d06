package audit

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCanonicalDetailFastPathMatchesTheRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []map[string]any{
		{"a": 1, "b": "<html> & \u2028", "c": []any{1.5, 1e21, 1e-7, 0.1, -0, true, nil}},
		{"z": map[string]any{"y": map[string]any{"x": int64(-9007199254740993)}}, "list": []string{"b", "a"}},
		{"usage": map[string]any{"prompt_tokens": int64(3), "estimated": false}, "f": float64(2) / 3},
		{"bad": "\xff\xfe", "key\xff": 1},
		{"obligations": map[string]any{"max_tokens": json.Number("4096"), "ratio": json.Number("1.50")}},
	} {
		b, err := json.Marshal(d)
		require.NoError(t, err)
		slow, err := canonicalJSON(b)
		require.NoError(t, err)
		fast, err := canonicalDetail(d)
		require.NoError(t, err)
		require.Equal(t, string(slow), string(fast), "%v", d)
		_, isBad := d["bad"]
		require.Equal(t, !isBad, plainJSON(d), "the fast path is taken for plain details: %v", d)
	}
}
