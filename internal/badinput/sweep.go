package badinput

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Target is a running service and how to call it.
type Target struct {
	// BaseURL of the service, e.g. http://127.0.0.1:50081.
	BaseURL string
	// Client sends the requests; nil uses a client of its own.
	Client *http.Client
	// Credentials returns the headers that satisfy a security scheme (by its name in
	// the document), or false when the caller has none for it.
	Credentials func(scheme string) (http.Header, bool)
	// Timeout bounds each request, answer included (default 10s).
	Timeout time.Duration
	Options
}

// Result is what a sweep found.
type Result struct {
	// Requests sent, and how many per operation id.
	Requests     int
	PerOperation map[string]int
	// Statuses counts the answers by status code.
	Statuses map[int]int
	// Baselines holds the status of each operation's baseline request: a 400 there means
	// the permitted cases never reach the handler (a rule the schema does not express).
	Baselines map[string]int
	Failures  []Failure
}

// Failure is one request whose answer broke a rule.
type Failure struct {
	Operation string
	Case      string
	Verdict   Verdict
	Status    int
	Problem   string
	Body      string
}

func (f Failure) String() string {
	want := "permitted"
	if f.Verdict.Breaks {
		want = "breaks: " + f.Verdict.Reason
	}
	return fmt.Sprintf("%s: %s [%s]: %s (status %d, body %s)", f.Operation, f.Case, want, f.Problem, f.Status, f.Body)
}

// Sweep sends every case of every operation of spec to the target, in the order of
// spec.Operations, and checks each answer with Check. It stops only when ctx ends.
func Sweep(ctx context.Context, spec *Spec, t Target) (*Result, error) {
	client := t.Client
	if client == nil {
		client = &http.Client{}
	}
	if t.Timeout <= 0 {
		t.Timeout = 10 * time.Second
	}
	res := &Result{PerOperation: map[string]int{}, Statuses: map[int]int{}, Baselines: map[string]int{}}
	for _, op := range spec.Operations {
		creds, err := Credentials(op, t.Credentials)
		if err != nil {
			res.Failures = append(res.Failures, Failure{Operation: op.ID, Case: "credentials", Problem: err.Error()})
			continue
		}
		cases := spec.Cases(op, t.Options)
		// The baseline goes last: it may delete or end what the other cases name.
		cases = append(cases[1:], cases[0])
		for i := range cases {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			c := &cases[i]
			status, header, body, err := send(ctx, client, t.Timeout, c, t.BaseURL, creds)
			res.Requests++
			res.PerOperation[op.ID]++
			res.Statuses[status]++
			if c.Kind == KindBaseline && c.Where == "" {
				res.Baselines[op.ID] = status
			}
			if err != nil {
				res.Failures = append(res.Failures, Failure{Operation: op.ID, Case: c.Name(), Verdict: c.Verdict, Problem: err.Error()})
				continue
			}
			for _, p := range Check(c.Verdict, status, header, body) {
				res.Failures = append(res.Failures, Failure{Operation: op.ID, Case: c.Name(), Verdict: c.Verdict, Status: status, Problem: p, Body: snippet(body)})
			}
		}
	}
	// An unknown path is a 404 problem too.
	unknown := &Case{Op: &Operation{ID: "unknown path", Method: http.MethodGet, Path: "/v1/x-badinput-unknown"}, Kind: KindMethod, Where: "path", Detail: "not in the document", Verdict: Verdict{Breaks: true, Routing: true, Reason: "no such path"}}
	status, header, body, err := send(ctx, client, t.Timeout, unknown, t.BaseURL, nil)
	res.Requests++
	res.Statuses[status]++
	if err != nil {
		res.Failures = append(res.Failures, Failure{Operation: unknown.Op.ID, Case: unknown.Name(), Problem: err.Error()})
	} else {
		for _, p := range Check(unknown.Verdict, status, header, body) {
			res.Failures = append(res.Failures, Failure{Operation: unknown.Op.ID, Case: unknown.Name(), Verdict: unknown.Verdict, Status: status, Problem: p, Body: snippet(body)})
		}
	}
	return res, nil
}

// Credentials picks the first security alternative of op whose every scheme the
// callback can satisfy, and returns its headers (none for a public operation).
func Credentials(op *Operation, creds func(scheme string) (http.Header, bool)) (http.Header, error) {
	if len(op.Security) == 0 {
		return http.Header{}, nil
	}
	for _, alt := range op.Security {
		h := http.Header{}
		ok := true
		for _, scheme := range alt {
			var got http.Header
			if creds != nil {
				got, ok = creds(scheme)
			} else {
				ok = false
			}
			if !ok {
				break
			}
			for k, vs := range got {
				h[k] = append(h[k], vs...)
			}
		}
		if ok {
			return h, nil
		}
	}
	return nil, fmt.Errorf("no credentials for any of %v", op.Security)
}

func send(ctx context.Context, client *http.Client, timeout time.Duration, c *Case, baseURL string, creds http.Header) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := c.Request.HTTP(ctx, c.Op, baseURL, creds)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) && resp.StatusCode < 300) {
		// A stream (SSE) that is still open when the timeout passes is fine.
		return resp.StatusCode, resp.Header, body, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// Check returns every rule an answer breaks: no 5xx; no 2xx or 3xx for a request that
// breaks the document; a breaking request answered with a status that says it was
// rejected as invalid (400, 413, 414, 415, 422, 431; 404 and 405 as well when the path or
// method is what breaks, 404 when the path may name a missing resource), not by a later
// check; no 401 or 403 (the credentials were
// valid, so the case tested nothing); and every 4xx and 5xx a problem (CheckProblem).
func Check(v Verdict, status int, header http.Header, body []byte) []string {
	var out []string
	switch {
	case status >= 500:
		out = append(out, fmt.Sprintf("server error %d", status))
	case status < 400 && v.Breaks:
		out = append(out, fmt.Sprintf("accepted (%d) a request that breaks the document", status))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		out = append(out, fmt.Sprintf("credentials rejected (%d): the case tested nothing", status))
	case status >= 400 && v.Breaks && !validationStatus(status, v):
		out = append(out, fmt.Sprintf("answered %d, not a validation status: the request got past validation", status))
	}
	if status >= 400 {
		if err := CheckProblem(status, header, body); err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

func validationStatus(status int, v Verdict) bool {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusRequestURITooLong,
		http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusRequestHeaderFieldsTooLarge:
		return true
	case http.StatusNotFound:
		return v.Routing || v.MayNotExist
	case http.StatusMethodNotAllowed:
		return v.Routing
	}
	return false
}

// CheckProblem checks that an error answer is an RFC 9457 problem as AgentOS writes it:
// Content-Type application/problem+json and a JSON object with type, title, status
// (equal to the HTTP status), detail, code and request_id (equal to X-Request-Id when
// that header is sent).
func CheckProblem(status int, header http.Header, body []byte) error {
	ct := header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/problem+json" {
		return fmt.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("problem is not a JSON object: %v", err)
	}
	var missing []string
	for _, k := range []string{"type", "title", "code", "request_id"} {
		if s, ok := p[k].(string); !ok || s == "" {
			missing = append(missing, k)
		}
	}
	if _, ok := p["detail"].(string); !ok {
		missing = append(missing, "detail")
	}
	if len(missing) > 0 {
		return fmt.Errorf("problem lacks %s", strings.Join(missing, ", "))
	}
	if n, ok := p["status"].(float64); !ok || int(n) != status {
		return fmt.Errorf("problem status %v, want %d", p["status"], status)
	}
	if rid := header.Get("X-Request-Id"); rid != "" && p["request_id"] != rid {
		return fmt.Errorf("problem request_id %v differs from X-Request-Id %q", p["request_id"], rid)
	}
	return nil
}

func snippet(b []byte) string {
	const n = 300
	if len(b) > n {
		return fmt.Sprintf("%q…", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
