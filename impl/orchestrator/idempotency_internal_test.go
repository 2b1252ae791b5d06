package orchestrator

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header, body, want string
		bad                      bool
	}{
		{"header", "k-1", `{"input":"x"}`, "k-1", false},
		{"body", "", `{"idempotency_key":"k-2"}`, "k-2", false},
		{"both agree", "k-3", `{"idempotency_key":"k-3"}`, "k-3", false},
		{"none", "", `{"input":"x"}`, "", false},
		{"both differ", "k-4", `{"idempotency_key":"k-5"}`, "", true},
		{"control character", "k\x01", `{}`, "", true},
		{"too long", string(make([]byte, 256)), `{}`, "", true},
		// Stored keys are text: invalid UTF-8 would be stored altered (U+FFFD), so
		// two different keys could collide.
		{"invalid UTF-8 header", "k\xff", `{}`, "", true},
		{"invalid UTF-8 body", "", "{\"idempotency_key\":\"k\xfe\"}", "", true},
	}
	for _, c := range cases {
		got, err := idempotencyKey(c.header, []byte(c.body))
		if c.bad {
			require.Error(t, err, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, got, c.name)
	}
}
