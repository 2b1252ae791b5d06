// Package httpserver holds what every AgentOS HTTP service shares around its generated
// ogen server: the middleware chain (request id, panic recovery, body limit, metrics,
// streaming flush), problem+json rendering for every error path, and graceful serving.
package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/ogen-go/ogen/validate"

	"github.com/nexixai/agentos/internal/apierr"
)

// ProblemTypePrefix prefixes the code in a problem's `type`.
const ProblemTypePrefix = "urn:agentos:problem:"

// Problem is the service-independent content of an RFC 9457 problem response. Each
// service copies it into its generated Problem type in its NewError hook.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail"`
	Code      string              `json:"code"`
	RequestID string              `json:"request_id"`
	Errors    []apierr.FieldError `json:"-"`
}

type fieldErrorJSON struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// MarshalJSON renders the problem with its field errors.
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	out := struct {
		plain
		Errors []fieldErrorJSON `json:"errors,omitempty"`
	}{plain: plain(p)}
	for _, f := range p.Errors {
		out.Errors = append(out.Errors, fieldErrorJSON{Field: f.Field, Reason: f.Reason})
	}
	return json.Marshal(out)
}

// ProblemFor converts any error returned by a handler, a security handler or ogen's
// decoders into a problem. Domain errors keep their code; ogen's decode and security
// errors become 4xx; anything else is a 500 whose cause is logged and never echoed.
func ProblemFor(ctx context.Context, err error) Problem {
	ae := classify(err)
	status := ae.Code.Status()
	if ae.RetryAfter > 0 {
		SetHeader(ctx, "Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	st := stateFrom(ctx)
	if status >= 500 {
		logger := slog.Default()
		if st != nil {
			logger = st.log()
		}
		logger.ErrorContext(ctx, "request failed", "code", string(ae.Code), "error", err.Error())
	}
	detail := ae.Message
	if ae.Code == apierr.CodeInternal {
		detail = "internal error; see the server log for request_id"
	}
	p := Problem{
		Type:   ProblemTypePrefix + string(ae.Code),
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   string(ae.Code),
		Errors: ae.Fields,
	}
	if st != nil {
		p.RequestID = st.requestID
		st.code = string(ae.Code)
	}
	return p
}

func classify(err error) *apierr.Error {
	if ae, ok := apierr.As(err); ok {
		return ae
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return apierr.New(apierr.CodeBodyTooLarge, "request body exceeds the limit of %d bytes", maxErr.Limit)
	}
	if errors.Is(err, ogenerrors.ErrSecurityRequirementIsNotSatisfied) {
		return apierr.New(apierr.CodeUnauthenticated, "missing credentials: send X-Tenant-Id (dev mode) or an Authorization bearer token")
	}
	var ctErr *validate.InvalidContentTypeError
	if errors.As(err, &ctErr) {
		return apierr.New(apierr.CodeUnsupportedMedia, "unsupported content type %q: send application/json", ctErr.ContentType)
	}
	if errors.Is(err, validate.ErrBodyRequired) {
		return apierr.New(apierr.CodeInvalidArgument, "request body is required")
	}
	var paramErr *ogenerrors.DecodeParamError
	if errors.As(err, &paramErr) {
		reason := paramReason(paramErr.Err)
		return &apierr.Error{
			Code:    apierr.CodeInvalidArgument,
			Message: fmt.Sprintf("%s parameter %q: %s", paramErr.In, paramErr.Name, reason),
			Fields:  []apierr.FieldError{{Field: paramErr.Name, Reason: reason}},
		}
	}
	var vErr *validate.Error
	if errors.As(err, &vErr) {
		fields := make([]apierr.FieldError, 0, len(vErr.Fields))
		parts := make([]string, 0, len(vErr.Fields))
		for _, f := range vErr.Fields {
			fields = append(fields, apierr.FieldError{Field: f.Name, Reason: f.Error.Error()})
			parts = append(parts, f.Name+": "+f.Error.Error())
		}
		return &apierr.Error{Code: apierr.CodeInvalidArgument, Message: "invalid request: " + strings.Join(parts, "; "), Fields: fields}
	}
	var reqErr *ogenerrors.DecodeRequestError
	if errors.As(err, &reqErr) {
		return apierr.New(apierr.CodeInvalidJSON, "invalid request body: %s", bodyReason(reqErr.Err))
	}
	var paramsErr *ogenerrors.DecodeParamsError
	if errors.As(err, &paramsErr) {
		return apierr.New(apierr.CodeInvalidArgument, "invalid parameters: %s", paramReason(paramsErr.Err))
	}
	var secErr *ogenerrors.SecurityError
	if errors.As(err, &secErr) {
		return apierr.New(apierr.CodeUnauthenticated, "invalid credentials")
	}
	if errors.Is(err, context.Canceled) {
		return apierr.Wrap(err, apierr.CodeRequestTimeout, "request cancelled")
	}
	return apierr.Wrap(err, apierr.CodeInternal, "internal error")
}

func paramReason(err error) string {
	var vErr *validate.Error
	if errors.As(err, &vErr) && len(vErr.Fields) > 0 {
		return vErr.Fields[0].Error.Error()
	}
	if errors.Is(err, validate.ErrFieldRequired) {
		return "required"
	}
	return strings.TrimPrefix(err.Error(), "validate: ")
}

func bodyReason(err error) string {
	var dbe *ogenerrors.DecodeBodyError
	if errors.As(err, &dbe) {
		err = dbe.Err
	}
	return err.Error()
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, p Problem) {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"urn:agentos:problem:internal_error","title":"Internal Server Error","status":500,"code":"internal_error"}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("Content-Encoding")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// ErrorHandler is the ogen ErrorHandler for every service: decode and routing errors
// become problem+json instead of ogen's `{"error_message":…}`.
func ErrorHandler(ctx context.Context, w http.ResponseWriter, _ *http.Request, err error) {
	WriteProblem(w, ProblemFor(ctx, err))
}

// NotFound answers an unknown path.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, ProblemFor(r.Context(), apierr.New(apierr.CodeNotFound, "no operation at %s", truncatePath(r.URL.Path))))
}

// MethodNotAllowed answers a known path called with a method it does not support.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	WriteProblem(w, ProblemFor(r.Context(), apierr.New(apierr.CodeMethodNotAllowed, "method %s is not allowed on %s; allowed: %s", r.Method, truncatePath(r.URL.Path), allowed)))
}

func truncatePath(p string) string {
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return strconv.Quote(p)[1 : len(strconv.Quote(p))-1]
}
