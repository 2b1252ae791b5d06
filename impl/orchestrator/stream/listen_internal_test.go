package stream

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A process skips the notifications it sent itself and relays the run ids of the
// others', with or without an origin.
func TestParsePayload(t *testing.T) {
	h := NewHub(nil, nil)
	other := NewHub(nil, nil)
	require.NotEqual(t, h.Origin, other.Origin)

	ids, own := h.parsePayload(h.Origin + " run_a run_b")
	require.True(t, own)
	require.Empty(t, ids)
	_, own = h.parsePayload(h.Origin)
	require.True(t, own, "a queue notification of its own")

	ids, own = h.parsePayload(other.Origin + " run_a run_b")
	require.False(t, own)
	require.Equal(t, []string{"run_a", "run_b"}, ids)
	ids, own = h.parsePayload(other.Origin)
	require.False(t, own)
	require.Empty(t, ids)
	ids, own = h.parsePayload("run_a run_b")
	require.False(t, own, "a sender without an origin")
	require.Equal(t, []string{"run_a", "run_b"}, ids)
}
