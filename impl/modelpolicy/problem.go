package modelpolicy

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/ogen-go/ogen/middleware"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/httpserver"
)

// Every Model Policy problem also carries an OpenAI-style error object, because OpenAI
// SDKs build their error from the body's "error" member and fail on a body without one:
//
//	{"type":…, "title":…, "status":…, "detail":…, "code":…, "request_id":…,
//	 "error": {"message": <detail>, "type": <code>, "code": <code>, "param": <first field>}}

// NewError implements the convenient-errors hook: every error becomes a problem.
func (s *Service) NewError(ctx context.Context, err error) *modelpolicyapi.ProblemStatusCode {
	p := httpserver.ProblemFor(ctx, err)
	out := modelpolicyapi.Problem{
		Type:      p.Type,
		Title:     p.Title,
		Status:    int32(p.Status),
		Detail:    modelpolicyapi.NewOptString(p.Detail),
		Code:      p.Code,
		RequestID: modelpolicyapi.NewOptString(p.RequestID),
	}
	oe := modelpolicyapi.OpenAIError{Message: p.Detail, Type: p.Code, Code: modelpolicyapi.NewOptString(p.Code)}
	for i, f := range p.Errors {
		out.Errors = append(out.Errors, modelpolicyapi.FieldError{Field: f.Field, Reason: f.Reason})
		if i == 0 {
			oe.Param = modelpolicyapi.NewOptString(f.Field)
		}
	}
	out.Error = modelpolicyapi.NewOptOpenAIError(oe)
	return &modelpolicyapi.ProblemStatusCode{StatusCode: p.Status, Response: out}
}

type fieldJSON struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

type openAIErrorJSON struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Param   *string `json:"param"`
}

type problemJSON struct {
	Type      string          `json:"type"`
	Title     string          `json:"title"`
	Status    int             `json:"status"`
	Detail    string          `json:"detail"`
	Code      string          `json:"code"`
	RequestID string          `json:"request_id"`
	Errors    []fieldJSON     `json:"errors,omitempty"`
	Error     openAIErrorJSON `json:"error"`
}

// writeProblem writes p, with its error object, as application/problem+json.
func writeProblem(w http.ResponseWriter, p httpserver.Problem) {
	out := problemJSON{
		Type: p.Type, Title: p.Title, Status: p.Status, Detail: p.Detail, Code: p.Code, RequestID: p.RequestID,
		Error: openAIErrorJSON{Message: p.Detail, Type: p.Code, Code: p.Code},
	}
	for i, f := range p.Errors {
		out.Errors = append(out.Errors, fieldJSON{Field: f.Field, Reason: f.Reason})
		if i == 0 {
			out.Error.Param = &f.Field
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		httpserver.WriteProblem(w, p)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("Content-Encoding")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// errorHandler is the ogen ErrorHandler: decode and routing errors become problems.
func errorHandler(ctx context.Context, w http.ResponseWriter, _ *http.Request, err error) {
	writeProblem(w, httpserver.ProblemFor(ctx, err))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	writeProblem(w, httpserver.ProblemFor(r.Context(), apierr.New(apierr.CodeNotFound, "no operation at %s", strconv.Quote(path))))
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeProblem(w, httpserver.ProblemFor(r.Context(), apierr.New(apierr.CodeMethodNotAllowed, "method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allowed)))
}

type rawBodyKey struct{}

// rawBodyMiddleware rejects bodies that are not UTF-8 (RFC 8259 JSON is UTF-8) and
// keeps the raw request body in the context, so the OpenAI operations forward the
// client's bytes rather than a re-encoding.
func rawBodyMiddleware(req middleware.Request, next middleware.Next) (middleware.Response, error) {
	if len(req.RawBody) > 0 {
		if !utf8.Valid(req.RawBody) {
			return middleware.Response{}, apierr.New(apierr.CodeInvalidJSON, "invalid request body: not valid UTF-8")
		}
		req.Context = context.WithValue(req.Context, rawBodyKey{}, req.RawBody)
	}
	return next(req)
}

func rawBody(ctx context.Context) []byte {
	b, _ := ctx.Value(rawBodyKey{}).([]byte)
	return b
}

func invalidKey() error {
	return apierr.New(apierr.CodeUnauthenticated, "invalid API key")
}
