package cli

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// readAll returns every event of stream and the error that ended it.
func readAll(r io.Reader) ([]sseEvent, error) {
	s := newSSEReader(r)
	var out []sseEvent
	for {
		ev, err := s.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name   string
		stream string
		want   []sseEvent
		err    error
	}{
		{
			name:   "orchestrator wire format",
			stream: "retry: 1000\n\nid: 1\nevent: run.queued\ndata: {\"seq\":1}\n\n: keepalive\n\nid: 2\nevent: run.started\ndata: {\"seq\":2}\n\n",
			want: []sseEvent{
				{ID: "1", HasID: true, Event: "run.queued", Data: `{"seq":1}`},
				{ID: "2", HasID: true, Event: "run.started", Data: `{"seq":2}`},
			},
			err: io.EOF,
		},
		{
			name:   "multi-line data",
			stream: "id: 7\ndata: first\ndata:second\ndata:  third\ndata\n\n",
			want:   []sseEvent{{ID: "7", HasID: true, Event: "message", Data: "first\nsecond\n third\n"}},
			err:    io.EOF,
		},
		{
			name:   "comments between fields and events",
			stream: ": hello\nid: 3\n:keepalive\nevent: x\ndata: y\n\n:\n\n",
			want:   []sseEvent{{ID: "3", HasID: true, Event: "x", Data: "y"}},
			err:    io.EOF,
		},
		{
			name:   "CRLF line endings",
			stream: "id: 1\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\nid: 2\r\ndata: three\r\n\r\n",
			want: []sseEvent{
				{ID: "1", HasID: true, Event: "a", Data: "one\ntwo"},
				{ID: "2", HasID: true, Event: "message", Data: "three"},
			},
			err: io.EOF,
		},
		{
			name:   "lone CR line endings",
			stream: "id: 1\revent: a\rdata: one\r\r",
			want:   []sseEvent{{ID: "1", HasID: true, Event: "a", Data: "one"}},
			err:    io.EOF,
		},
		{
			name:   "missing trailing blank line at EOF: the incomplete event is not dispatched",
			stream: "id: 1\ndata: one\n\nid: 2\ndata: two\n",
			want:   []sseEvent{{ID: "1", HasID: true, Event: "message", Data: "one"}},
			err:    io.ErrUnexpectedEOF,
		},
		{
			name:   "stream cut inside a line",
			stream: "id: 1\ndata: one\n\nid: 2\ndata: {\"se",
			want:   []sseEvent{{ID: "1", HasID: true, Event: "message", Data: "one"}},
			err:    io.ErrUnexpectedEOF,
		},
		{
			name:   "event without data is not dispatched",
			stream: "id: 1\nevent: ping\n\nid: 2\ndata: x\n\n",
			want:   []sseEvent{{ID: "2", HasID: true, Event: "message", Data: "x"}},
			err:    io.EOF,
		},
		{
			name:   "byte order mark, unknown fields, id with NUL ignored",
			stream: "\uFEFFid: 1\nfoo: bar\nretry: x\ndata: a\n\nid: 2\x00\ndata: b\n\n",
			want: []sseEvent{
				{ID: "1", HasID: true, Event: "message", Data: "a"},
				{Event: "message", Data: "b"},
			},
			err: io.EOF,
		},
		{
			name:   "empty stream",
			stream: "",
			err:    io.EOF,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(strings.NewReader(tc.stream))
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, tc.want, got)

			// Byte by byte (CRLF split across reads, a CR last in the buffer) gives the same.
			got, err = readAll(iotest.OneByteReader(strings.NewReader(tc.stream)))
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSSEReaderReturnsReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	got, err := readAll(io.MultiReader(strings.NewReader("id: 1\ndata: a\n\nid: 2\nda"), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)
	require.Equal(t, []sseEvent{{ID: "1", HasID: true, Event: "message", Data: "a"}}, got)
}

func FuzzSSEReader(f *testing.F) {
	f.Add("id: 1\nevent: a\ndata: b\n\n")
	f.Add("id: 1\r\ndata: x\r\n\r\n: c\r\r")
	f.Add("data\n\ndata:\n\n\uFEFF")
	f.Fuzz(func(t *testing.T, stream string) {
		whole, errWhole := readAll(strings.NewReader(stream))
		bytewise, errBytewise := readAll(iotest.OneByteReader(strings.NewReader(stream)))
		require.Equal(t, whole, bytewise)
		require.Equal(t, errWhole, errBytewise)
	})
}
