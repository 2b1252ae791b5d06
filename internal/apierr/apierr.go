// Package apierr is the one domain error type of AgentOS. Handlers return *Error values
// (or wrap them); the mapping from a stable code to an HTTP status happens once, in
// Status, and the problem+json rendering in package httpserver.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, snake_case, machine-readable error code. Clients branch on it.
type Code string

// Codes shared by every service. Services may add their own; an unknown code maps to 500.
const (
	CodeInvalidArgument    Code = "invalid_argument"
	CodeInvalidJSON        Code = "invalid_json"
	CodeUnauthenticated    Code = "unauthenticated"
	CodePermissionDenied   Code = "permission_denied"
	CodeNotFound           Code = "not_found"
	CodeTenantNotFound     Code = "tenant_not_found"
	CodeMethodNotAllowed   Code = "method_not_allowed"
	CodeConflict           Code = "conflict"
	CodeUnprocessable      Code = "unprocessable"
	CodeBodyTooLarge       Code = "body_too_large"
	CodeUnsupportedMedia   Code = "unsupported_media_type"
	CodeRateLimited        Code = "rate_limited"
	CodeUnavailable        Code = "unavailable"
	CodeInternal           Code = "internal_error"
	CodeNotImplemented     Code = "not_implemented"
	CodeRequestTimeout     Code = "request_timeout"
	CodePreconditionFailed Code = "precondition_failed"
	// CodeLeaseLost: a worker's lease lapsed or was superseded; it must stop the run.
	CodeLeaseLost Code = "lease_lost"
	// CodeIdempotencyInFlight: the first request with this Idempotency-Key is still running.
	CodeIdempotencyInFlight Code = "idempotency_key_in_use"
	// CodeIdempotencyReused: the Idempotency-Key was used with another request body.
	CodeIdempotencyReused Code = "idempotency_key_reused"
	// CodeUpstreamError: an upstream (a model server) failed or answered badly.
	CodeUpstreamError Code = "upstream_error"
	// CodeUpstreamTimeout: an upstream did not answer in time.
	CodeUpstreamTimeout Code = "upstream_timeout"
)

var statusByCode = map[Code]int{
	CodeInvalidArgument:     http.StatusBadRequest,
	CodeInvalidJSON:         http.StatusBadRequest,
	CodeUnauthenticated:     http.StatusUnauthorized,
	CodePermissionDenied:    http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeTenantNotFound:      http.StatusNotFound,
	CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	CodeRequestTimeout:      http.StatusRequestTimeout,
	CodeConflict:            http.StatusConflict,
	CodeLeaseLost:           http.StatusConflict,
	CodeIdempotencyInFlight: http.StatusConflict,
	CodeIdempotencyReused:   http.StatusUnprocessableEntity,
	CodePreconditionFailed:  http.StatusPreconditionFailed,
	CodeBodyTooLarge:        http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	CodeUnprocessable:       http.StatusUnprocessableEntity,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeInternal:            http.StatusInternalServerError,
	CodeNotImplemented:      http.StatusNotImplemented,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeUpstreamError:       http.StatusBadGateway,
	CodeUpstreamTimeout:     http.StatusGatewayTimeout,
}

// Status is the HTTP status for a code; unknown codes are 500.
func (c Code) Status() int {
	if s, ok := statusByCode[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// FieldError names one invalid field and the rule it broke.
type FieldError struct {
	Field  string
	Reason string
}

// Error is a domain error with a stable code. Message is safe to show to clients; Err
// (the cause) is logged but never sent.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with a cause that is logged but not shown to clients.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// InvalidField is a 400 naming one field and the rule it broke.
func InvalidField(field, reason string) *Error {
	return &Error{
		Code:    CodeInvalidArgument,
		Message: fmt.Sprintf("%s: %s", field, reason),
		Fields:  []FieldError{{Field: field, Reason: reason}},
	}
}

// NotFound is a 404 for a resource kind and id.
func NotFound(kind, id string) *Error {
	return New(CodeNotFound, "%s %q not found", kind, id)
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// CodeOf returns the code of err, CodeInternal when err carries none.
func CodeOf(err error) Code {
	if e, ok := As(err); ok {
		return e.Code
	}
	return CodeInternal
}
