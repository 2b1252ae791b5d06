package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nexixai/agentos/internal/apierr"
)

// RouteFinder maps a request to its operation id (ogen's Server.FindRoute).
type RouteFinder func(method, path string) (operationID string, ok bool)

// Options configures the middleware chain of one service.
type Options struct {
	// Service names the service in logs and metrics.
	Service string
	Logger  *slog.Logger
	// MaxBodyBytes bounds request bodies; larger ones get a 413 problem.
	MaxBodyBytes int64
	Metrics      *Metrics
	FindRoute    RouteFinder
	// WriteProblem, when set, writes the problems the chain itself answers (body too
	// large, panics) instead of WriteProblem, e.g. to add service-specific members.
	WriteProblem func(http.ResponseWriter, Problem)
}

// requestState is created once per request and shared, by pointer in the context, with
// everything downstream (NewError hooks, security handlers), so that what they learn
// (tenant, error code, headers to add) reaches the access log and the response.
type requestState struct {
	requestID string
	operation string
	tenantID  string
	code      string
	header    http.Header
	// base is the service's logger; logger, base with request_id and operation, is made
	// on first use (log), since most requests log nothing at the default level.
	base   *slog.Logger
	logger atomic.Pointer[slog.Logger]
}

// log returns the request-scoped logger, making it on first use.
func (st *requestState) log() *slog.Logger {
	if l := st.logger.Load(); l != nil {
		return l
	}
	l := st.base.With("request_id", st.requestID, "operation", st.operation)
	if !st.logger.CompareAndSwap(nil, l) {
		return st.logger.Load()
	}
	return l
}

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// RequestID returns the id of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.requestID
	}
	return ""
}

// Logger returns the request-scoped logger (request_id and operation attached), or
// slog.Default outside a request.
func Logger(ctx context.Context) *slog.Logger {
	if st := stateFrom(ctx); st != nil {
		return st.log()
	}
	return slog.Default()
}

// SetTenant records the tenant a request runs in, for the access log.
func SetTenant(ctx context.Context, tenantID string) {
	if st := stateFrom(ctx); st != nil {
		st.tenantID = tenantID
	}
}

// SetHeader sets a response header from code that has no ResponseWriter (NewError hooks).
// It must be called before the response is written.
func SetHeader(ctx context.Context, key, value string) {
	if st := stateFrom(ctx); st != nil && st.header != nil {
		st.header.Set(key, value)
	}
}

// Wrap returns next wrapped in the shared middleware chain: request id, panic recovery,
// body limit, metrics, access log, and flushing for event streams.
func Wrap(next http.Handler, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	writeProblem := o.WriteProblem
	if writeProblem == nil {
		writeProblem = WriteProblem
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		op := "unknown"
		if o.FindRoute != nil {
			if id, ok := o.FindRoute(r.Method, r.URL.Path); ok {
				op = id
			}
		}
		rid := r.Header.Get("X-Request-Id")
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		st := &requestState{
			requestID: rid,
			operation: op,
			header:    w.Header(),
			base:      o.Logger,
		}
		rw := &responseWriter{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), stateKey{}, st)
		r = r.WithContext(ctx)

		defer func() {
			if rec := recover(); rec != nil {
				if rec == http.ErrAbortHandler {
					panic(rec)
				}
				st.log().ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
				if !rw.wroteHeader {
					writeProblem(rw, ProblemFor(ctx, apierr.New(apierr.CodeInternal, "handler panicked")))
				}
			}
			status := rw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			if o.Metrics != nil {
				o.Metrics.observe(op, status, elapsed)
			}
			logAccess(ctx, st, r, status, elapsed)
		}()

		if o.MaxBodyBytes > 0 && r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > o.MaxBodyBytes {
				writeProblem(rw, ProblemFor(ctx, apierr.New(apierr.CodeBodyTooLarge, "request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, o.MaxBodyBytes)))
				return
			}
			r.Body = http.MaxBytesReader(rw, r.Body, o.MaxBodyBytes)
		}
		if err := checkText(r); err != nil {
			writeProblem(rw, ProblemFor(ctx, err))
			return
		}
		next.ServeHTTP(rw, r)
	})
}

func logAccess(ctx context.Context, st *requestState, r *http.Request, status int, elapsed time.Duration) {
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelInfo
	}
	if !st.base.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
	}
	if st.tenantID != "" {
		attrs = append(attrs, slog.String("tenant_id", st.tenantID))
	}
	if st.code != "" {
		attrs = append(attrs, slog.String("code", st.code))
	}
	st.log().LogAttrs(ctx, level, "request", attrs...)
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:", c) >= 0) {
			return false
		}
	}
	return true
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "req_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// responseWriter records the status and flushes after every write of an event stream
// (ogen never flushes). It deliberately does not implement io.ReaderFrom.
type responseWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	streaming   bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.status, w.wroteHeader = code, true
	w.streaming = strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream")
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	if w.streaming && err == nil {
		w.Flush()
	}
	return n, err
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusLabel avoids an allocation per request for the common statuses.
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 201:
		return "201"
	case 204:
		return "204"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	}
	return strconv.Itoa(code)
}
