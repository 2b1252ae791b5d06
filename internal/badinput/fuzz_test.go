package badinput_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexixai/agentos/internal/badinput"
)

// One fuzz target per operation that takes a body or parameters. Each feeds the
// fuzzer's path values, raw query, header values and body to the real service of an
// in-process node (and of a PostgreSQL one too when TEST_DATABASE_URL is set) and
// checks the answer with badinput.Check: never a 5xx, a problem for every 4xx, and no
// 2xx for a request the document rejects. Run one with
//
//	go test -run '^$' -fuzz '^FuzzCreateRun$' -fuzztime 30s ./internal/badinput/
//
// TestEveryOperationHasAFuzzTarget keeps this list complete.

func FuzzListAgents(f *testing.F)      { fuzzOperation(f, "orchestrator", "listAgents") }
func FuzzGetAgent(f *testing.F)        { fuzzOperation(f, "orchestrator", "getAgent") }
func FuzzPutAgent(f *testing.F)        { fuzzOperation(f, "orchestrator", "putAgent") }
func FuzzDeleteAgent(f *testing.F)     { fuzzOperation(f, "orchestrator", "deleteAgent") }
func FuzzCreateRun(f *testing.F)       { fuzzOperation(f, "orchestrator", "createRun") }
func FuzzListRuns(f *testing.F)        { fuzzOperation(f, "orchestrator", "listRuns") }
func FuzzGetRun(f *testing.F)          { fuzzOperation(f, "orchestrator", "getRun") }
func FuzzCancelRun(f *testing.F)       { fuzzOperation(f, "orchestrator", "cancelRun") }
func FuzzWaitRun(f *testing.F)         { fuzzOperation(f, "orchestrator", "waitRun") }
func FuzzGetRunEvents(f *testing.F)    { fuzzOperation(f, "orchestrator", "getRunEvents") }
func FuzzAppendRunEvents(f *testing.F) { fuzzOperation(f, "orchestrator", "appendRunEvents") }
func FuzzLeaseRuns(f *testing.F)       { fuzzOperation(f, "orchestrator", "leaseRuns") }
func FuzzHeartbeatLease(f *testing.F)  { fuzzOperation(f, "orchestrator", "heartbeatLease") }
func FuzzCompleteRun(f *testing.F)     { fuzzOperation(f, "orchestrator", "completeRun") }
func FuzzFailRun(f *testing.F)         { fuzzOperation(f, "orchestrator", "failRun") }
func FuzzListTenants(f *testing.F)     { fuzzOperation(f, "orchestrator", "listTenants") }
func FuzzGetTenant(f *testing.F)       { fuzzOperation(f, "orchestrator", "getTenant") }
func FuzzPutTenant(f *testing.F)       { fuzzOperation(f, "orchestrator", "putTenant") }
func FuzzDeleteTenant(f *testing.F)    { fuzzOperation(f, "orchestrator", "deleteTenant") }

func FuzzPutMemory(f *testing.F)    { fuzzOperation(f, "orchestrator", "putMemory") }
func FuzzGetMemory(f *testing.F)    { fuzzOperation(f, "orchestrator", "getMemory") }
func FuzzDeleteMemory(f *testing.F) { fuzzOperation(f, "orchestrator", "deleteMemory") }
func FuzzSearchMemory(f *testing.F) { fuzzOperation(f, "orchestrator", "searchMemory") }

func FuzzCreateChatCompletion(f *testing.F) { fuzzOperation(f, "modelpolicy", "createChatCompletion") }
func FuzzCreateEmbedding(f *testing.F)      { fuzzOperation(f, "modelpolicy", "createEmbedding") }
func FuzzEvaluatePolicy(f *testing.F)       { fuzzOperation(f, "modelpolicy", "evaluatePolicy") }
func FuzzAuthorizeToolCall(f *testing.F)    { fuzzOperation(f, "modelpolicy", "authorizeToolCall") }
func FuzzGetUsage(f *testing.F)             { fuzzOperation(f, "modelpolicy", "getUsage") }
func FuzzListAPIKeys(f *testing.F)          { fuzzOperation(f, "modelpolicy", "listApiKeys") }
func FuzzCreateAPIKey(f *testing.F)         { fuzzOperation(f, "modelpolicy", "createApiKey") }
func FuzzDeleteAPIKey(f *testing.F)         { fuzzOperation(f, "modelpolicy", "deleteApiKey") }

// maxSeeds bounds the seed corpus of one target: the seeds run as ordinary tests.
const maxSeeds = 40

// fuzzTimeout bounds one request. An operation may legitimately wait longer (a lease
// request's wait_seconds, waitRun's timeout); such inputs are skipped, not failed.
const fuzzTimeout = 5 * time.Second

var (
	fuzzMu       sync.Mutex
	fuzzFixtures = map[string]fixture{}
)

// fuzzFixture is the fixture fuzz targets share on a node: the default tenant (which
// cannot be deleted), so no input can take the tenant away from the others.
func (n *testNode) fuzzFixture(tb testing.TB) fixture {
	tb.Helper()
	fuzzMu.Lock()
	defer fuzzMu.Unlock()
	if fx, ok := fuzzFixtures[n.backend]; ok {
		return fx
	}
	fx := n.newFixture(tb, "")
	fuzzFixtures[n.backend] = fx
	return fx
}

type fuzzTarget struct {
	n     *testNode
	url   string
	creds http.Header
	// paths are the fixture's path values: other values may name nothing.
	paths []string
}

func fuzzOperation(f *testing.F, service, opID string) {
	s := spec(f, service)
	op := s.Operation(opID)
	if op == nil {
		f.Fatalf("%s has no operation %s", s.Path, opID)
	}
	var (
		targets []fuzzTarget
		maxBody int64
		opts    badinput.Options
	)
	for i, b := range backends() {
		n := nodeFor(f, b)
		fx := n.fuzzFixture(f)
		creds, err := badinput.Credentials(op, n.credentials(fx.tenant))
		if err != nil {
			f.Fatal(err)
		}
		o := fx.options(n.cfg.MaxBodyBytes)
		base := s.BaselineRequest(op, o)
		targets = append(targets, fuzzTarget{n: n, url: n.node.URL(service), creds: creds, paths: base.PathValues})
		if i == 0 {
			maxBody, opts = n.cfg.MaxBodyBytes, o
		}
	}
	for _, c := range seeds(s.Cases(op, opts)) {
		path, query, header, body := fuzzArgs(op, &c.Request)
		f.Add(path, query, header, body)
	}
	headers := op.ParamsIn("header")
	f.Fuzz(func(t *testing.T, path, query, header string, body []byte) {
		r := badinput.Request{RawQuery: escapeQuery(query), Header: http.Header{}}
		if n := len(op.PathParams()); n > 0 {
			r.PathValues = strings.SplitN(path, "\n", n)
		}
		if len(headers) > 0 && header != "" {
			for i, v := range strings.SplitN(header, "\n", len(headers)) {
				v = textproto.TrimString(v) // as the server reads it
				if !validHeaderValue(v) {
					t.Skip("a header value no client can send")
				}
				if v != "" {
					r.Header.Set(headers[i].Name, v)
				}
			}
		}
		if op.Body != nil {
			r.Body, r.SendBody, r.ContentType = body, true, "application/json"
		}
		verdict := op.Judge(&r, maxBody)
		for _, tg := range targets {
			ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeout)
			req, err := r.HTTP(ctx, op, tg.url, tg.creds)
			if err != nil {
				cancel()
				t.Skipf("not a request a client can send: %v", err)
			}
			status, h, got, err := do(tg.n.client, req)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				t.Skipf("%s: no answer within %s (a long poll?)", tg.n.backend, fuzzTimeout)
			}
			if err != nil {
				t.Fatalf("%s: %s %s: %v", tg.n.backend, req.Method, req.URL, err)
			}
			v := verdict
			v.MayNotExist = !slices.Equal(r.PathValues, tg.paths)
			for _, p := range badinput.Check(v, status, h, got) {
				t.Errorf("%s: %s %s (verdict %+v): %s; answer %d %.300q", tg.n.backend, req.Method, req.URL, v, p, status, got)
			}
		}
	})
}

func do(client *http.Client, req *http.Request) (int, http.Header, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && errors.Is(err, context.DeadlineExceeded) && resp.StatusCode < 300 {
		err = nil // an event stream still open
	}
	return resp.StatusCode, resp.Header, body, err
}

// seeds picks up to maxSeeds cases: the baseline, the first case of each kind, then an
// even spread of the rest; bodies over 64 KiB are left to the sweep.
func seeds(cases []badinput.Case) []badinput.Case {
	var out, rest []badinput.Case
	kinds := map[badinput.Kind]bool{}
	for _, c := range cases {
		if len(c.Request.Body) > 64<<10 || c.Request.Method != "" || c.Request.Chunked || (c.Request.SendBody && c.Request.ContentType != "application/json") {
			continue // not expressible as fuzz arguments, or too big to mutate
		}
		if !kinds[c.Kind] {
			kinds[c.Kind] = true
			out = append(out, c)
			continue
		}
		rest = append(rest, c)
	}
	if room := maxSeeds - len(out); room > 0 && len(rest) > 0 {
		stride := max(1, len(rest)/room)
		for i := 0; i < len(rest) && len(out) < maxSeeds; i += stride {
			out = append(out, rest[i])
		}
	}
	return out
}

// fuzzArgs flattens a request into the fuzz arguments: path values and header
// parameter values each joined by newlines, the raw query, the body.
func fuzzArgs(op *badinput.Operation, r *badinput.Request) (path, query, header string, body []byte) {
	var hv []string
	for _, p := range op.ParamsIn("header") {
		hv = append(hv, r.Header.Get(p.Name))
	}
	return strings.Join(r.PathValues, "\n"), r.RawQuery, strings.Join(hv, "\n"), r.Body
}

// escapeQuery percent-encodes what may not appear raw in a query (as a client would),
// keeping '%' so that malformed escapes still reach the server.
func escapeQuery(q string) string {
	const ok = "-._~!$&'()*+,;=:@/?%"
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(ok, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// validHeaderValue reports whether a client may send v (RFC 9110 field-value: no
// control characters other than tab).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
