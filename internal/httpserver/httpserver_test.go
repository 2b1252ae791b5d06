package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/ogen-go/ogen/validate"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/httpserver"
)

type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func decodeProblem(t *testing.T, resp *http.Response) problem {
	t.Helper()
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p problem
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	require.Equal(t, resp.StatusCode, p.Status)
	require.NotEmpty(t, p.Type)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.Code)
	require.Equal(t, resp.Header.Get("X-Request-Id"), p.RequestID)
	return p
}

func serve(t *testing.T, h http.Handler, m *httpserver.Metrics) *httptest.Server {
	t.Helper()
	if m == nil {
		m = httpserver.NewMetrics("test")
	}
	srv := httptest.NewServer(httpserver.Mux(httpserver.Wrap(h, httpserver.Options{
		Service:      "test",
		Logger:       slog.New(slog.DiscardHandler),
		MaxBodyBytes: 64,
		Metrics:      m,
		FindRoute: func(method, path string) (string, bool) {
			if path == "/ok" {
				return "getOk", true
			}
			return "", false
		},
	}), m))
	t.Cleanup(srv.Close)
	return srv
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, httpserver.RequestID(r.Context()))
	}), nil)

	resp, err := http.Get(srv.URL + "/ok")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	require.True(t, strings.HasPrefix(id, "req_"), id)
	require.Equal(t, id, string(body), "the handler sees the same id")

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ok", nil)
	req.Header.Set("X-Request-Id", "client-id.123")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "client-id.123", resp.Header.Get("X-Request-Id"))

	req.Header.Set("X-Request-Id", "bad id with spaces")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.True(t, strings.HasPrefix(resp.Header.Get("X-Request-Id"), "req_"), "a malformed id is replaced")
}

func TestPanicBecomesProblemAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("panic") != "" {
			panic("boom")
		}
		w.WriteHeader(http.StatusNoContent)
	}), nil)

	resp, err := http.Get(srv.URL + "/ok?panic=1")
	require.NoError(t, err)
	p := decodeProblem(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, p.Status)
	require.Equal(t, "internal_error", p.Code)
	require.NotContains(t, p.Detail, "boom", "the panic value is logged, not echoed")

	resp, err = http.Get(srv.URL + "/ok")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			httpserver.ErrorHandler(r.Context(), w, r, &ogenerrors.DecodeRequestError{Err: err})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}), nil)

	big := strings.Repeat("x", 65)
	resp, err := http.Post(srv.URL+"/ok", "application/json", strings.NewReader(big))
	require.NoError(t, err)
	p := decodeProblem(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
	require.Equal(t, "body_too_large", p.Code)

	// Chunked: no Content-Length, so the limit trips while reading.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ok", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	p = decodeProblem(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, p.Status)

	resp, err = http.Post(srv.URL+"/ok", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

func TestProblemFor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name   string
		err    error
		status int
		code   string
		detail string
	}{
		{"domain", apierr.New(apierr.CodeConflict, "already there"), 409, "conflict", "already there"},
		{"wrapped domain", errors.Join(errors.New("x"), apierr.New(apierr.CodeNotFound, "gone")), 404, "not_found", "gone"},
		{"unauthenticated", &ogenerrors.SecurityError{Err: ogenerrors.ErrSecurityRequirementIsNotSatisfied}, 401, "unauthenticated", "missing credentials"},
		{"security domain", &ogenerrors.SecurityError{Err: apierr.New(apierr.CodeTenantNotFound, "tenant \"x\" not found")}, 404, "tenant_not_found", "tenant"},
		{"param", &ogenerrors.DecodeParamsError{Err: &ogenerrors.DecodeParamError{Name: "limit", In: "query", Err: errors.New("invalid integer")}}, 400, "invalid_argument", "limit"},
		{"body json", &ogenerrors.DecodeRequestError{Err: errors.New("unexpected EOF")}, 400, "invalid_json", "unexpected EOF"},
		{"validation", &ogenerrors.DecodeRequestError{Err: &validate.Error{Fields: []validate.FieldError{{Name: "display_name", Error: errors.New("len 300 greater than maximum 200")}}}}, 400, "invalid_argument", "display_name"},
		{"content type", &ogenerrors.DecodeRequestError{Err: validate.InvalidContentType("text/plain")}, 415, "unsupported_media_type", "text/plain"},
		{"body too large", &ogenerrors.DecodeRequestError{Err: &http.MaxBytesError{Limit: 10}}, 413, "body_too_large", "10 bytes"},
		{"unknown", errors.New("db exploded: password=hunter2"), 500, "internal_error", "internal error"},
	}
	for _, c := range cases {
		p := httpserver.ProblemFor(ctx, c.err)
		require.Equal(t, c.status, p.Status, c.name)
		require.Equal(t, c.code, p.Code, c.name)
		require.Contains(t, p.Detail, c.detail, c.name)
		require.NotContains(t, p.Detail, "hunter2", c.name)
		require.Equal(t, "urn:agentos:problem:"+c.code, p.Type, c.name)
	}
}

func TestMetricsCountOperationsAndStatus(t *testing.T) {
	t.Parallel()
	m := httpserver.NewMetrics("test")
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			httpserver.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), m)
	for _, p := range []string{"/ok", "/ok", "/nope"} {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	require.Contains(t, text, `agentos_http_requests_total{operation="getOk",service="test",status="200"} 2`)
	require.Contains(t, text, `agentos_http_requests_total{operation="unknown",service="test",status="404"} 1`)
	require.Contains(t, text, `agentos_http_request_duration_seconds_bucket{operation="getOk",service="test"`)
	require.Equal(t, 2, testutil.CollectAndCount(m.Registry, "agentos_http_requests_total"))

	resp, err = http.Post(srv.URL+"/metrics", "text/plain", nil)
	require.NoError(t, err)
	p := decodeProblem(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, p.Status)
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.MethodNotAllowed(w, r, "GET")
	}), nil)
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/ok", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	p := decodeProblem(t, resp)
	resp.Body.Close()
	require.Equal(t, "GET", resp.Header.Get("Allow"))
	require.Equal(t, "method_not_allowed", p.Code)
}

func TestEventStreamsAreFlushedPerWrite(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "id: 1\ndata: first\n\n")
		<-release // the client must see the first event before the handler returns
		_, _ = io.WriteString(w, "id: 2\ndata: second\n\n")
	}), nil)
	resp, err := http.Get(srv.URL + "/ok")
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, len("id: 1\ndata: first\n\n"))
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	require.Equal(t, "id: 1\ndata: first\n\n", string(buf))
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	require.Equal(t, "id: 2\ndata: second\n\n", string(rest))
}
