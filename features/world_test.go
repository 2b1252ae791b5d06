package features

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/nexixai/agentos/gen/federationapi"
	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// world is one scenario's state.
type world struct {
	env *environment

	// The last raw HTTP exchange (raw steps and generated clients alike).
	mu         sync.Mutex
	status     int
	header     http.Header
	body       []byte
	lastReqID  string
	problem    *problemBody
	clientErr  error
	lastHealth healthBody
	lastReady  readyBody
	caller     *orchestratorapi.Caller
	tenant     *orchestratorapi.Tenant
	created    bool
	listing    []string
	pageSizes  []int
	cliOut     string
	cliCode    int
	configFile string
	metrics    string

	// scratch holds the repository copy of spec scenarios.
	scratch string
	// second is the extra node of scenarios that need a broken one.
	secondURLs map[string]string

	orchState
	mcp mcpScenario
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

type healthBody struct{ status, service, version string }

type readyBody struct {
	status string
	checks map[string]string
}

func newWorld(env *environment) *world { return &world{env: env} }

// recorder is an http.Client transport that keeps the last response's status, headers and
// request id, so steps driving the generated clients can still assert on them.
type recorder struct{ w *world }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.w.mu.Lock()
	r.w.status = resp.StatusCode
	r.w.header = resp.Header.Clone()
	r.w.lastReqID = resp.Header.Get("X-Request-Id")
	r.w.mu.Unlock()
	return resp, nil
}

func (w *world) httpClient() *http.Client {
	return &http.Client{Transport: recorder{w}, Timeout: 30 * time.Second}
}

// creds implements the generated SecuritySource: each field left empty is skipped.
type creds struct{ tenant, token, admin, worker string }

func (c creds) TenantHeader(context.Context, orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	if c.tenant == "" {
		return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.TenantHeader{APIKey: c.tenant}, nil
}

func (c creds) BearerAuth(context.Context, orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	if c.token == "" {
		return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.BearerAuth{Token: c.token}, nil
}

func (c creds) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	if c.admin == "" {
		return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.AdminToken{Token: c.admin}, nil
}

func (c creds) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	if c.worker == "" {
		return orchestratorapi.WorkerToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.WorkerToken{Token: c.worker}, nil
}

func (w *world) orch(baseURL string, c creds) (*orchestratorapi.Client, error) {
	return orchestratorapi.NewClient(baseURL, c, orchestratorapi.WithClient(w.httpClient()))
}

func (w *world) admin() (*orchestratorapi.Client, error) {
	return w.orch(w.env.urls["orchestrator"], creds{admin: w.env.adminToken})
}

// noteErr records a client error; a problem answer is kept for the problem steps.
func (w *world) noteErr(err error) {
	w.clientErr = err
	w.problem = nil
	var op *orchestratorapi.ProblemStatusCode
	var mp *modelpolicyapi.ProblemStatusCode
	var fp *federationapi.ProblemStatusCode
	switch {
	case errors.As(err, &op):
		w.problem = &problemBody{Type: op.Response.Type, Title: op.Response.Title, Status: int(op.Response.Status), Detail: op.Response.Detail.Or(""), Code: op.Response.Code, RequestID: op.Response.RequestID.Or("")}
		w.status = op.StatusCode
	case errors.As(err, &mp):
		w.problem = &problemBody{Type: mp.Response.Type, Title: mp.Response.Title, Status: int(mp.Response.Status), Detail: mp.Response.Detail.Or(""), Code: mp.Response.Code, RequestID: mp.Response.RequestID.Or("")}
		w.status = mp.StatusCode
	case errors.As(err, &fp):
		w.problem = &problemBody{Type: fp.Response.Type, Title: fp.Response.Title, Status: int(fp.Response.Status), Detail: fp.Response.Detail.Or(""), Code: fp.Response.Code, RequestID: fp.Response.RequestID.Or("")}
		w.status = fp.StatusCode
	}
}

// send makes a raw request (for what a generated client cannot express: unknown paths,
// wrong methods, malformed bodies) and keeps the answer.
func (w *world) send(method, url string, header http.Header, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := w.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	w.clientErr = nil
	w.body, err = io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	w.problem = nil
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var p problemBody
		if err := json.Unmarshal(w.body, &p); err != nil {
			return fmt.Errorf("decode problem %q: %w", w.body, err)
		}
		w.problem = &p
	}
	return nil
}

// register binds every step of the suite.
func (w *world) register(sc *godog.ScenarioContext) {
	w.registerHTTP(sc)
	w.registerTenancy(sc)
	w.registerJWT(sc)
	w.registerAudit(sc)
	w.registerCLI(sc)
	w.registerSpec(sc)
	w.registerOrchestrator(sc)
	w.registerCLIRuns(sc)
	w.registerMemory(sc)
	w.registerMCP(sc)
	w.registerModelPolicy(sc)
	w.registerTools(sc)
	w.registerRunTokenSteps(sc)
}

var servicePattern = `(orchestrator|modelpolicy|federation)`

func (w *world) registerHTTP(sc *godog.ScenarioContext) {
	sc.Step(`^I (?:check|have checked) the health of the `+servicePattern+`$`, w.checkHealth)
	sc.Step(`^the service reports status "([^"]*)" as "([^"]*)" with a version$`, w.healthIs)
	sc.Step(`^I check the readiness of the `+servicePattern+`$`, w.checkReadiness)
	sc.Step(`^the service is ready with check "([^"]*)" "([^"]*)"$`, w.readyIs)
	sc.Step(`^I fetch the metrics of the `+servicePattern+`$`, w.fetchMetrics)
	sc.Step(`^the metrics count requests for operation "([^"]*)" with status "([^"]*)"$`, w.metricsCount)
	sc.Step(`^the metrics have a request latency histogram for operation "([^"]*)"$`, w.metricsHistogram)

	sc.Step(`^I send "([^"]*)" to "([^"]*)" on the `+servicePattern+`$`, func(method, path, svc string) error {
		u, err := w.env.url(svc)
		if err != nil {
			return err
		}
		return w.send(method, u+path, nil, nil)
	})
	sc.Step(`^I send "([^"]*)" to "([^"]*)" on the `+servicePattern+` with request id "([^"]*)"$`, func(method, path, svc, id string) error {
		u, err := w.env.url(svc)
		if err != nil {
			return err
		}
		return w.send(method, u+path, http.Header{"X-Request-Id": {id}}, nil)
	})
	sc.Step(`^I send "([^"]*)" to "([^"]*)" on the `+servicePattern+` as admin with body:$`, func(method, path, svc string, doc *godog.DocString) error {
		u, err := w.env.url(svc)
		if err != nil {
			return err
		}
		h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + w.env.adminToken}}
		return w.send(method, u+path, h, []byte(expandChars(doc.Content)))
	})
	sc.Step(`^I send a (\d+) byte body with "([^"]*)" to "([^"]*)" on the `+servicePattern+` as admin$`, func(n int, method, path, svc string) error {
		u, err := w.env.url(svc)
		if err != nil {
			return err
		}
		body := append([]byte(`{"display_name":"`), bytes.Repeat([]byte("x"), n)...)
		body = append(body, '"', '}')
		h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + w.env.adminToken}}
		return w.send(method, u+path, h, body)
	})
	sc.Step(`^I send "([^"]*)" to "([^"]*)" on the `+servicePattern+` (as admin|anonymous|as tenant) with content type "([^"]*)" and body "(.*)"$`,
		func(method, path, svc, as, ctype, body string) error {
			u, err := w.env.url(svc)
			if err != nil {
				return err
			}
			h := http.Header{"Content-Type": {ctype}}
			switch as {
			case "as admin":
				h.Set("Authorization", "Bearer "+w.env.adminToken)
			case "as tenant":
				h.Set("X-Tenant-Id", w.env.defaultTenant)
			}
			var b []byte
			if body != "" || method == http.MethodPut || method == http.MethodPost {
				b = unescapeBytes(body)
			}
			return w.send(method, u+path, h, b)
		})
	sc.Step(`^the orchestrator's handler will panic on the next request$`, func() error {
		w.env.panicNext.Store(true)
		return nil
	})
	sc.Step(`^the response is a (\d+) problem with code "([^"]*)"$`, func(status int, code string) error {
		// After a generated-client call that failed, the problem was kept by noteErr.
		if w.problem != nil && w.clientErr != nil {
			return w.failedWithProblem(status, code)
		}
		return w.responseProblem(status, code)
	})
	sc.Step(`^the response is a (\d+) problem$`, func(status int) error { return w.responseProblem(status, "") })
	sc.Step(`^the response header "([^"]*)" is "([^"]*)"$`, func(name, want string) error {
		if got := w.header.Get(name); got != want {
			return fmt.Errorf("header %s = %q, want %q", name, got, want)
		}
		return nil
	})
	sc.Step(`^the problem's request_id is "([^"]*)"$`, func(want string) error {
		if w.problem == nil || w.problem.RequestID != want {
			return fmt.Errorf("problem %+v: want request_id %q", w.problem, want)
		}
		return nil
	})
	sc.Step(`^the response has a generated request id$`, func() error {
		if id := w.header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") {
			return fmt.Errorf("X-Request-Id = %q, want a generated req_ id", id)
		}
		return nil
	})
	sc.Step(`^the problem detail mentions "([^"]*)"$`, func(s string) error {
		if w.problem == nil || !strings.Contains(w.problem.Detail, s) {
			return fmt.Errorf("problem %+v does not mention %q", w.problem, s)
		}
		return nil
	})
	sc.Step(`^a second node whose database has been closed$`, w.secondNodeWithClosedDB)
	sc.Step(`^I send "([^"]*)" to "([^"]*)" on the second node's `+servicePattern+`$`, func(method, path, svc string) error {
		return w.send(method, w.secondURLs[svc]+path, nil, nil)
	})
}

// responseProblem checks the last raw response is a complete problem with status (and code).
func (w *world) responseProblem(status int, code string) error {
	if w.status != status {
		return fmt.Errorf("status %d, want %d (body %s)", w.status, status, truncate(w.body))
	}
	p := w.problem
	if p == nil {
		return fmt.Errorf("status %d without a problem+json body: %s", w.status, truncate(w.body))
	}
	if code != "" && p.Code != code {
		return fmt.Errorf("problem code %q, want %q (detail %q)", p.Code, code, p.Detail)
	}
	if p.Status != status || p.Type == "" || p.Title == "" || p.Detail == "" || p.Code == "" || p.RequestID == "" {
		return fmt.Errorf("incomplete problem: %+v", *p)
	}
	if p.RequestID != w.header.Get("X-Request-Id") {
		return fmt.Errorf("problem request_id %q differs from X-Request-Id %q", p.RequestID, w.header.Get("X-Request-Id"))
	}
	return nil
}

func (w *world) checkHealth(svc string) error {
	u, err := w.env.url(svc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	w.lastHealth = healthBody{}
	switch svc {
	case "orchestrator":
		c, err := w.orch(u, creds{})
		if err != nil {
			return err
		}
		h, err := c.GetHealth(ctx)
		if err != nil {
			return err
		}
		w.lastHealth = healthBody{string(h.Status), h.Service, h.Version}
	case "modelpolicy":
		c, err := modelpolicyapi.NewClient(u, mpCreds{}, modelpolicyapi.WithClient(w.httpClient()))
		if err != nil {
			return err
		}
		h, err := c.GetHealth(ctx)
		if err != nil {
			return err
		}
		w.lastHealth = healthBody{string(h.Status), h.Service, h.Version}
	case "federation":
		c, err := federationapi.NewClient(u, federationapi.WithClient(w.httpClient()))
		if err != nil {
			return err
		}
		h, err := c.GetHealth(ctx)
		if err != nil {
			return err
		}
		w.lastHealth = healthBody{string(h.Status), h.Service, h.Version}
	}
	return nil
}

func (w *world) healthIs(status, service string) error {
	h := w.lastHealth
	if h.status != status || h.service != service || h.version == "" {
		return fmt.Errorf("health %+v, want status %q service %q and a version", h, status, service)
	}
	return nil
}

func (w *world) checkReadiness(svc string) error {
	u, err := w.env.url(svc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch svc {
	case "orchestrator":
		c, err := w.orch(u, creds{})
		if err != nil {
			return err
		}
		r, err := c.GetReadiness(ctx)
		if err != nil {
			return err
		}
		w.lastReady = readyBody{string(r.Status), r.Checks}
	case "modelpolicy":
		c, err := modelpolicyapi.NewClient(u, mpCreds{}, modelpolicyapi.WithClient(w.httpClient()))
		if err != nil {
			return err
		}
		r, err := c.GetReadiness(ctx)
		if err != nil {
			return err
		}
		w.lastReady = readyBody{string(r.Status), r.Checks}
	case "federation":
		c, err := federationapi.NewClient(u, federationapi.WithClient(w.httpClient()))
		if err != nil {
			return err
		}
		r, err := c.GetReadiness(ctx)
		if err != nil {
			return err
		}
		w.lastReady = readyBody{string(r.Status), r.Checks}
	}
	return nil
}

func (w *world) readyIs(check, state string) error {
	if w.lastReady.status != "ready" || w.lastReady.checks[check] != state {
		return fmt.Errorf("readiness %+v, want ready with %s=%s", w.lastReady, check, state)
	}
	return nil
}

func (w *world) fetchMetrics(svc string) error {
	u, err := w.env.url(svc)
	if err != nil {
		return err
	}
	if err := w.send(http.MethodGet, u+"/metrics", nil, nil); err != nil {
		return err
	}
	if w.status != http.StatusOK {
		return fmt.Errorf("GET /metrics: status %d", w.status)
	}
	w.metrics = string(w.body)
	return nil
}

func (w *world) metricsCount(op, status string) error {
	re := regexp.MustCompile(`(?m)^agentos_http_requests_total\{operation="` + regexp.QuoteMeta(op) + `",service="[a-z]+",status="` + status + `"\} (\d+)`)
	m := re.FindStringSubmatch(w.metrics)
	if m == nil {
		return fmt.Errorf("no request counter for %s/%s in metrics", op, status)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 {
		return fmt.Errorf("request counter for %s/%s is %s", op, status, m[1])
	}
	return nil
}

func (w *world) metricsHistogram(op string) error {
	for _, suffix := range []string{"_bucket{", "_sum{", "_count{"} {
		if !strings.Contains(w.metrics, "agentos_http_request_duration_seconds"+suffix+`operation="`+op+`"`) {
			return fmt.Errorf("no latency histogram series %s for %s", suffix, op)
		}
	}
	return nil
}

// expandChars replaces "<N chars>" with N x's (for length-limit examples).
func expandChars(s string) string {
	re := regexp.MustCompile(`<(\d+) chars>`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(re.FindStringSubmatch(m)[1])
		return strings.Repeat("x", n)
	})
}

// unescapeBytes turns \xNN sequences into raw bytes (for invalid UTF-8 examples).
func unescapeBytes(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if b, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				out = append(out, byte(b))
				i += 3
				continue
			}
		}
		out = append(out, s[i])
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
