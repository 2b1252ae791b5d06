package httpserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTextMustBeUTF8WithoutNUL(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		_, _ = w.Write(body) // the handler still sees the whole body
	}), nil)

	cases := []struct {
		name, path, contentType, body string
		status                        int
		code                          string
	}{
		{"plain json", "/ok?q=ü", "application/json", `{"a":"ü\\u0000"}`, 200, ""},
		{"escaped backslash before u0000", "/ok", "application/json", `{"a":"\\\\u0000"}`, 200, ""},
		{"not json is not checked", "/ok", "text/plain", "a\xffb", 200, ""},
		{"invalid UTF-8 in a string", "/ok", "application/json", "{\"a\":\"\xff\"}", 400, "invalid_json"},
		{"invalid UTF-8, +json", "/ok", "application/merge-patch+json; charset=utf-8", "{\"a\":\"\xc3\"}", 400, "invalid_json"},
		{"escaped NUL", "/ok", "application/json", `{"a":"x\u0000y"}`, 400, "invalid_argument"},
		{"escaped NUL in a key", "/ok", "application/json", `{"\u0000":1}`, 400, "invalid_argument"},
		{"raw NUL", "/ok", "application/json", "{\"a\":\"\x00\"}", 400, "invalid_argument"},
		{"NUL in the query", "/ok?label=a%00b", "", "", 400, "invalid_argument"},
		{"invalid UTF-8 in the query", "/ok?label=a%FF", "", "", 400, "invalid_argument"},
		{"invalid UTF-8 in a query name", "/ok?%FF=1", "", "", 400, "invalid_argument"},
		{"NUL in the path", "/ok%00", "", "", 400, "invalid_argument"},
		{"invalid UTF-8 in the path", "/a%C3", "", "", 400, "invalid_argument"},
	}
	for _, c := range cases {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL+c.path, body)
		require.NoError(t, err, c.name)
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err, c.name)
		if c.status != http.StatusOK {
			p := decodeProblem(t, resp)
			require.Equal(t, c.status, p.Status, c.name)
			require.Equal(t, c.code, p.Code, c.name)
		} else {
			got, _ := io.ReadAll(resp.Body)
			require.Equal(t, http.StatusOK, resp.StatusCode, c.name)
			require.Equal(t, c.body, string(got), c.name)
		}
		resp.Body.Close()
	}
}
