package httpserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nexixai/agentos/internal/apierr"
)

// checkText rejects text that no service can store faithfully: the path, a query
// parameter or a JSON body that is not valid UTF-8 or that holds U+0000 (NUL). The query
// builder refuses NUL in SQL text on SQLite and PostgreSQL alike (a 500 deep in a
// handler), and it replaces invalid UTF-8 with U+FFFD (the stored value differs from the
// one accepted), so both are a 400 here, before any decoder runs. A JSON body is read
// whole for the check (the body limit applies) and handed on as a fresh reader.
func checkText(r *http.Request) error {
	if err := checkString("path", r.URL.Path); err != nil {
		return err
	}
	if r.URL.RawQuery != "" {
		for k, vs := range r.URL.Query() {
			if err := checkString("query parameter name", k); err != nil {
				return err
			}
			for _, v := range vs {
				if err := checkString(fmt.Sprintf("query parameter %q", k), v); err != nil {
					return err
				}
			}
		}
	}
	if r.Body == nil || r.Body == http.NoBody || !isJSON(r.Header.Get("Content-Type")) {
		return nil
	}
	body, err := readBody(r.Body, r.ContentLength)
	_ = r.Body.Close()
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return err // a 413
		}
		return apierr.Wrap(err, apierr.CodeInvalidJSON, "read request body")
	}
	rb := &readBodyCloser{}
	rb.Reset(body)
	r.Body = rb
	if !utf8.Valid(body) {
		return apierr.New(apierr.CodeInvalidJSON, "invalid request body: not valid UTF-8")
	}
	if jsonHasNUL(body) {
		return apierr.New(apierr.CodeInvalidArgument, "invalid request body: a string holds U+0000 (NUL), which no field accepts")
	}
	return nil
}

// maxPreallocBody bounds the buffer sized from a request's Content-Length before any of
// the body has arrived: a client's header alone never makes the server hold more.
const maxPreallocBody = 256 << 10

// readBody reads a request body to its end, like io.ReadAll, into a buffer sized from the
// declared length (-1 when unknown): one allocation for the usual body instead of
// ReadAll's growing chunks and final copy.
func readBody(r io.Reader, declared int64) ([]byte, error) {
	size := 512
	if declared >= 0 {
		size = int(min(declared, maxPreallocBody)) + 1 // +1: the read that finds the end
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readBodyCloser is a request body already read, handed on to the handler.
type readBodyCloser struct{ bytes.Reader }

func (*readBodyCloser) Close() error { return nil }

func checkString(what, s string) error {
	if !utf8.ValidString(s) {
		return apierr.New(apierr.CodeInvalidArgument, "%s is not valid UTF-8", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return apierr.New(apierr.CodeInvalidArgument, "%s holds U+0000 (NUL)", what)
	}
	return nil
}

// isJSON reports whether a Content-Type names JSON (application/json or */*+json).
func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true // the usual header, without the parse (it allocates the parameters' map)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// jsonHasNUL reports whether JSON text holds U+0000, raw or as the escape \u0000.
// Backslashes occur only inside strings, so no tokenizing is needed: each escape is
// skipped whole, so that an escaped backslash followed by "u0000" is not taken for one.
func jsonHasNUL(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			return true
		}
		j := bytes.IndexByte(b[i+2:], '\\')
		if j < 0 {
			return false
		}
		i += 2 + j
	}
	return false
}
