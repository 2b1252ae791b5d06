package httpserver

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// TestReadBody: a body is read whole whatever its Content-Length claims.
func TestReadBody(t *testing.T) {
	t.Parallel()
	small := `{"model":"m","messages":[]}`
	large := strings.Repeat("x", maxPreallocBody*2+7)
	for name, c := range map[string]struct {
		body     string
		r        io.Reader
		declared int64
	}{
		"exact":               {small, strings.NewReader(small), int64(len(small))},
		"unknown":             {small, strings.NewReader(small), -1},
		"short claim":         {small, strings.NewReader(small), 3},
		"long claim":          {small, strings.NewReader(small), 1000},
		"one byte":            {small, iotest.OneByteReader(strings.NewReader(small)), int64(len(small))},
		"data+EOF":            {small, iotest.DataErrReader(strings.NewReader(small)), int64(len(small))},
		"past the prealloc":   {large, strings.NewReader(large), int64(len(large))},
		"large, unknown size": {large, iotest.HalfReader(strings.NewReader(large)), -1},
		"empty":               {"", strings.NewReader(""), 0},
	} {
		got, err := readBody(c.r, c.declared)
		require.NoError(t, err, name)
		require.Equal(t, c.body, string(got), name)
	}
	boom := errors.New("boom")
	_, err := readBody(io.MultiReader(strings.NewReader("{"), iotest.ErrReader(boom)), 5)
	require.ErrorIs(t, err, boom)
}
