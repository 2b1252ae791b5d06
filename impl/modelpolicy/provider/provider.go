// Package provider connects Model Policy to model servers. A Provider speaks to one
// upstream: `openai` for any OpenAI-compatible HTTP server (vLLM, TGI, Triton's OpenAI
// frontend, Ollama, llama.cpp, OpenAI), `builtin` for the embedded deterministic model.
// A Router maps the model names clients use to deployments (a provider plus its model
// name) and runs each call with routing, per-attempt timeouts, retries with backoff,
// fallback and a circuit breaker per deployment.
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Operation is what a call asks of a model.
type Operation string

// The operations a provider serves.
const (
	OpChat       Operation = "chat.completions"
	OpEmbeddings Operation = "embeddings"
)

// Request is one call as forwarded to a deployment.
type Request struct {
	Op Operation
	// Body is the OpenAI request body, with "model" set to the deployment's model name.
	Body []byte
}

// Response is a non-streaming answer.
type Response struct {
	// Body is the upstream's response body, unchanged.
	Body []byte
	// Usage is the usage the body reports (Present false when it reports none).
	Usage Usage

	// buf holds Body when it is a pooled buffer (Release hands it back).
	buf *[]byte
}

// Release hands the body's buffer back for reuse by a later answer. Body must not be used
// after it (nor anything that shares its bytes); not calling it is safe.
func (r *Response) Release() {
	if r.buf != nil {
		putAnswerBuf(r.buf)
		r.buf, r.Body = nil, nil
	}
}

// Usage is token usage as an upstream reports it.
type Usage struct {
	Present          bool
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
}

// Stream is a streamed answer: the data of each server-sent event in order.
type Stream interface {
	// Next returns the next event's data (without the "data: " prefix); io.EOF after
	// the terminating [DONE] or a clean end of the body. Any other error means the
	// stream broke.
	Next() ([]byte, error)
	// Close releases the stream; it is safe to call more than once.
	Close() error
}

// Provider is one upstream.
type Provider interface {
	// Name is the provider's name from the configuration.
	Name() string
	// Type is "openai" or "builtin".
	Type() string
	// Do performs a non-streaming call.
	Do(ctx context.Context, req Request) (*Response, error)
	// Stream starts a streaming call; it returns once the upstream has accepted the
	// request (a 2xx with an event stream), before any event is read.
	Stream(ctx context.Context, req Request) (Stream, error)
}

// ErrorKind classifies an upstream failure.
type ErrorKind string

// Error kinds, also the `kind` label of the error metrics.
const (
	KindTimeout     ErrorKind = "timeout"      // per-attempt, first-byte or idle timeout
	KindConnection  ErrorKind = "connection"   // refused, reset, dropped mid-response
	KindStatus      ErrorKind = "status"       // a non-2xx answer
	KindProtocol    ErrorKind = "protocol"     // an answer that is not what the API promises
	KindBreakerOpen ErrorKind = "breaker_open" // every deployment's circuit breaker is open
	KindCanceled    ErrorKind = "canceled"     // the client went away
)

// Error is an upstream failure.
type Error struct {
	Kind ErrorKind
	// Status is the upstream's HTTP status for KindStatus.
	Status int
	// Message is the upstream's error message (error.message of an OpenAI error body)
	// or a description of the failure.
	Message string
	// RetryAfter is the upstream's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Deployment names where it happened.
	Deployment string
	Err        error
}

func (e *Error) Error() string {
	s := string(e.Kind)
	if e.Status != 0 {
		s = fmt.Sprintf("status %d", e.Status)
	}
	if e.Deployment != "" {
		s = e.Deployment + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether another attempt (here or on another deployment) may succeed:
// timeouts, connection failures, broken answers, 408, 429 and 5xx.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindTimeout, KindConnection, KindProtocol:
		return true
	case KindStatus:
		return e.Status == 408 || e.Status == 429 || e.Status >= 500
	}
	return false
}

// metricKind is the error's label in metrics.
func (e *Error) metricKind() string {
	if e.Kind == KindStatus {
		switch {
		case e.Status == 429:
			return "status_429"
		case e.Status >= 500:
			return "status_5xx"
		default:
			return "status_4xx"
		}
	}
	return string(e.Kind)
}

// AsError returns the *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
