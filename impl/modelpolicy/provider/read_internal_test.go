package provider

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// TestReadAnswer: an answer is read whole whatever its Content-Length claims, and never
// more than one byte past maxUpstreamBody.
func TestReadAnswer(t *testing.T) {
	t.Parallel()
	body := strings.Repeat(`{"a":"0123456789"}`, 100)
	for name, c := range map[string]struct {
		r        io.Reader
		declared int64
	}{
		"exact":       {strings.NewReader(body), int64(len(body))},
		"unknown":     {strings.NewReader(body), -1},
		"short claim": {strings.NewReader(body), 10},
		"long claim":  {strings.NewReader(body), int64(len(body)) * 3},
		"zero claim":  {strings.NewReader(body), 0},
		"one byte":    {iotest.OneByteReader(strings.NewReader(body)), int64(len(body))},
		"data+EOF":    {iotest.DataErrReader(strings.NewReader(body)), int64(len(body))},
	} {
		got, err := readAnswer(c.r, nil, c.declared, maxUpstreamBody)
		require.NoError(t, err, name)
		require.Equal(t, body, string(got), name)
	}

	const limit = 10000 // maxUpstreamBody's role, small enough for a test
	for _, declared := range []int64{-1, 0, 10, limit - 1, limit, limit + 1, limit + 100, 1 << 40} {
		got, err := readAnswer(io.LimitReader(zeros{}, limit+100), nil, declared, limit)
		require.NoError(t, err)
		require.Len(t, got, limit+1, "declared %d: one byte past the limit", declared)
		got, err = readAnswer(io.LimitReader(zeros{}, limit), nil, declared, limit)
		require.NoError(t, err)
		require.Len(t, got, limit, "declared %d: at the limit", declared)
	}

	boom := errors.New("boom")
	_, err := readAnswer(io.MultiReader(strings.NewReader("{"), iotest.ErrReader(boom)), nil, 5, maxUpstreamBody)
	require.ErrorIs(t, err, boom)
	got, err := readAnswer(bytes.NewReader(nil), nil, 0, maxUpstreamBody)
	require.NoError(t, err)
	require.Empty(t, got)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestAnswerBuffers: a pooled buffer always holds the answer it is taken for, and one
// that grew far past the largest class is not kept.
func TestAnswerBuffers(t *testing.T) {
	t.Parallel()
	for _, declared := range []int64{-1, 0, 100, 1023, 1024, 4 << 10, 60 << 10, 64 << 10, 200 << 10} {
		b := getAnswerBuf(declared)
		require.Empty(t, *b)
		require.GreaterOrEqual(t, cap(*b), answerSize(declared, maxUpstreamBody), "declared %d", declared)
		*b = append(*b, "xyz"...)
		putAnswerBuf(b)
	}
	big := make([]byte, 10, 1<<20)
	putAnswerBuf(&big)
	require.Len(t, big, 10, "too large to keep: untouched")

	r := &Response{Body: []byte("{}")}
	r.Release() // not pooled: nothing to do
	require.Equal(t, "{}", string(r.Body))
	buf := getAnswerBuf(2)
	*buf = append(*buf, "{}"...)
	r = &Response{Body: *buf, buf: buf}
	r.Release()
	require.Nil(t, r.Body)
	r.Release() // twice is harmless
}
