package provider

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// An upstream event stream is Ready when the event Next returns next is whole in the
// buffer: not for half an event, nor for a comment or a data-less event that Next skips
// (the relay would hold what it has while Next waits), and always once it has ended.
func TestSSEStreamReady(t *testing.T) {
	open := func(body string) *sseStream {
		rc := io.NopCloser(strings.NewReader(body))
		return &sseStream{ctx: context.Background(), body: rc, r: bufio.NewReaderSize(rc, 4096)}
	}
	next := func(s *sseStream) string {
		data, err := s.Next()
		require.NoError(t, err)
		return string(data)
	}

	s := open("data: a\n\ndata: b\r\n\r\n: keepalive\n\nevent: ping\n\n")
	require.Equal(t, "a", next(s))
	require.True(t, s.Ready(), "b is buffered whole")
	require.Equal(t, "b", next(s))
	require.False(t, s.Ready(), "only a comment and a data-less event are left")

	s = open("data: a\n\ndata: b")
	require.Equal(t, "a", next(s))
	require.False(t, s.Ready(), "half an event")

	s = open("data: a\n\ndata: [DONE]\n\n")
	require.Equal(t, "a", next(s))
	require.True(t, s.Ready())
	_, err := s.Next()
	require.ErrorIs(t, err, io.EOF)
	require.True(t, s.Ready(), "an ended stream never waits")
}
