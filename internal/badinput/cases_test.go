package badinput_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/badinput"
)

// maxCasesPerService keeps a sweep within a few thousand requests.
const maxCasesPerService = 3000

// TestCases checks the generator on the real documents: every baseline conforms, every
// case of a kind meant to break breaks, and a service stays within the request budget.
func TestCases(t *testing.T) {
	t.Parallel()
	mustBreak := map[badinput.Kind]bool{
		badinput.KindMissing: true, badinput.KindUnknownEnum: true, badinput.KindPattern: true,
		badinput.KindFormat: true, badinput.KindInvalidUTF8: true, badinput.KindMalformed: true,
		badinput.KindNotObject: true, badinput.KindEmptyBody: true, badinput.KindTooLarge: true,
		badinput.KindMethod: true, badinput.KindWrongType: true, badinput.KindOutOfRange: true,
	}
	for _, service := range services {
		s := spec(t, service)
		total := 0
		for _, op := range s.Operations {
			cases := s.Cases(op, badinput.Options{MaxBodyBytes: 1 << 20})
			total += len(cases)
			require.Equal(t, badinput.KindBaseline, cases[0].Kind)
			kinds := map[badinput.Kind]int{}
			for _, c := range cases {
				kinds[c.Kind]++
				switch {
				case c.Kind == badinput.KindBaseline:
					require.False(t, c.Verdict.Breaks, "%s: %s: %s", op, c.Name(), c.Verdict.Reason)
				case mustBreak[c.Kind]:
					require.True(t, c.Verdict.Breaks, "%s: %s is judged valid", op, c.Name())
				}
			}
			if op.Body != nil {
				for _, k := range []badinput.Kind{badinput.KindUnknownField, badinput.KindMalformed, badinput.KindContentType, badinput.KindTooLarge, badinput.KindInvalidUTF8} {
					require.NotZero(t, kinds[k], "%s has no %q case", op, k)
				}
			}
		}
		require.LessOrEqual(t, total, maxCasesPerService, service)
	}
}

// TestCasesOfKnownShapes pins what the generator makes of a few orchestrator schemas.
func TestCasesOfKnownShapes(t *testing.T) {
	t.Parallel()
	s := spec(t, "orchestrator")
	byName := func(opID string) map[string]badinput.Case {
		op := s.Operation(opID)
		require.NotNil(t, op, opID)
		out := map[string]badinput.Case{}
		for _, c := range s.Cases(op, badinput.Options{MaxBodyBytes: 1 << 20}) {
			out[c.Name()] = c
		}
		return out
	}
	put := byName("putAgent")
	for name, breaks := range map[string]bool{
		"unknown field body.x_badinput_unknown: added":                         true,  // additionalProperties: false
		"unknown field body.tools[0].mcp.x_badinput_unknown: added":            true,  // nested, additionalProperties: false
		"unknown field body.tools[0].parameters.x_badinput_unknown: added":     false, // a free-form JSON Schema
		"unknown field body.labels.x_badinput_unknown: added":                  true,  // map of strings, true is no string
		"missing required body.model: left out":                                true,
		"missing required body.tools[0].name: left out":                        true,
		"unknown enum value body.tools[0].type: set to \"x_badinput_unknown\"": true,
		"too long body.model: 257 characters (maxLength 256)":                  true,
		"out of range body.limits.max_steps: above the maximum: 1001":          true,
		"out of range body.limits.max_steps: set to 9223372036854775808":       true,
		"wrong type body.limits.max_steps: set to \"1\"":                       true,
		"wrong type body.limits.max_steps: set to 1.5":                         true,
		"item count body.tools: 129 items (maxItems 128)":                      true,
		"odd characters body.model: quotes, HTML and SQL":                      false,
	} {
		c, ok := put[name]
		require.True(t, ok, "no case %q", name)
		require.Equal(t, breaks, c.Verdict.Breaks, "%s: %s", name, c.Verdict.Reason)
	}
	list := byName("listRuns")
	for name, breaks := range map[string]bool{
		"out of range query limit: above the maximum":                     true,
		"wrong type query limit: a fraction":                              true,
		"unknown enum value query status: one item not in the enum":       true,
		"item count query status: 8 items (maxItems 7)":                   true,
		"bad format query created_after: not a date":                      true,
		"baseline query created_after: set to a valid value":              false,
		"unknown parameter query x_badinput_unknown: added":               false,
		"odd characters query: invalid percent-encoding":                  false,
		"invalid UTF-8 query cursor: bytes \\xff\\xfe":                    true,
		"too long query cursor: 513 characters (maxLength 512)":           true,
		"pattern violation query agent_id: " + strconv.Quote("!a"):        true,
		"odd characters query agent_id: " + strconv.Quote("a"+"\x00"+"b"): true,
		"odd characters query cursor: " + strconv.Quote("a"+"'\";<>"):     false,
	} {
		c, ok := list[name]
		require.True(t, ok, "no case %q", name)
		require.Equal(t, breaks, c.Verdict.Breaks, "%s: %s", name, c.Verdict.Reason)
	}
	run := byName("getRun")
	c, ok := run["too short path run_id: empty"]
	require.True(t, ok)
	require.True(t, c.Verdict.Breaks && c.Verdict.Routing, "an empty path parameter may be a 404")
}

func TestJudge(t *testing.T) {
	t.Parallel()
	s := spec(t, "orchestrator")
	op := s.Operation("heartbeatLease")
	require.NotNil(t, op)
	judge := func(path, body, contentType string) badinput.Verdict {
		r := badinput.Request{PathValues: []string{path}, Body: []byte(body), SendBody: true, ContentType: contentType, Header: http.Header{}}
		return op.Judge(&r, 64)
	}
	require.False(t, judge("lse_a1", `{"fencing_token":1}`, "application/json").Breaks)
	require.False(t, judge("lse_a1", `{"fencing_token":2147483647}`, "application/json; charset=utf-8").Breaks)
	for name, v := range map[string]badinput.Verdict{
		"int32 overflow":   judge("lse_a1", `{"fencing_token":2147483648}`, "application/json"),
		"int64 overflow":   judge("lse_a1", `{"fencing_token":9223372036854775808}`, "application/json"),
		"below minimum":    judge("lse_a1", `{"fencing_token":0}`, "application/json"),
		"unknown field":    judge("lse_a1", `{"fencing_token":1,"x":1}`, "application/json"),
		"trailing data":    judge("lse_a1", `{"fencing_token":1} x`, "application/json"),
		"invalid UTF-8":    judge("lse_a1", "{\"fencing_token\":1,\"\xff\":1}", "application/json"),
		"over the limit":   judge("lse_a1", `{"fencing_token":1,                                                    }`, "application/json"),
		"wrong media type": judge("lse_a1", `{"fencing_token":1}`, "text/plain"),
		"no body":          judge("lse_a1", ``, "application/json"),
	} {
		require.True(t, v.Breaks, name)
		require.False(t, v.Routing, name)
	}
	v := judge("LSE", `{"fencing_token":1}`, "application/json")
	require.True(t, v.Breaks && v.Routing, "a path parameter off its pattern")
}

func TestCheck(t *testing.T) {
	t.Parallel()
	problem := func(status int) []byte {
		return []byte(`{"type":"urn:agentos:problem:x","title":"T","status":` + strconv.Itoa(status) + `,"detail":"d","code":"x","request_id":"req_1"}`)
	}
	ph := http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"req_1"}}
	breaks := badinput.Verdict{Breaks: true, Reason: "r"}
	routing := badinput.Verdict{Breaks: true, Routing: true}
	require.Empty(t, badinput.Check(breaks, 400, ph, problem(400)))
	require.Empty(t, badinput.Check(routing, 404, ph, problem(404)))
	require.Empty(t, badinput.Check(badinput.Verdict{}, 409, ph, problem(409)))
	require.Empty(t, badinput.Check(badinput.Verdict{}, 201, http.Header{}, []byte(`{}`)))
	require.NotEmpty(t, badinput.Check(breaks, 201, http.Header{}, []byte(`{}`)), "accepted")
	require.NotEmpty(t, badinput.Check(breaks, 404, ph, problem(404)), "got past validation")
	require.Empty(t, badinput.Check(badinput.Verdict{Breaks: true, MayNotExist: true}, 404, ph, problem(404)), "names nothing")
	require.NotEmpty(t, badinput.Check(badinput.Verdict{Breaks: true, MayNotExist: true}, 405, ph, problem(405)))
	require.NotEmpty(t, badinput.Check(badinput.Verdict{}, 500, ph, problem(500)), "server error")
	require.NotEmpty(t, badinput.Check(badinput.Verdict{}, 401, ph, problem(401)), "credentials")
	require.NotEmpty(t, badinput.Check(breaks, 400, http.Header{"Content-Type": {"application/json"}}, problem(400)), "media type")
	require.NotEmpty(t, badinput.Check(breaks, 400, ph, problem(422)), "status mismatch")
	require.NotEmpty(t, badinput.Check(breaks, 400, ph, []byte(`{"type":"t","title":"t","status":400,"code":"c","request_id":"req_1"}`)), "no detail")
	require.NotEmpty(t, badinput.Check(breaks, 400, http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"req_2"}}, problem(400)), "request id mismatch")
}

// TestEveryOperationHasAFuzzTarget fails when an operation that takes a body or
// parameters has no Fuzz function in fuzz_test.go.
func TestEveryOperationHasAFuzzTarget(t *testing.T) {
	t.Parallel()
	file, err := parser.ParseFile(token.NewFileSet(), "fuzz_test.go", nil, 0)
	require.NoError(t, err)
	targets := map[[2]string]string{}
	for _, d := range file.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || len(fn.Name.Name) < 5 || fn.Name.Name[:4] != "Fuzz" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 3 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "fuzzOperation" {
				return true
			}
			var args [2]string
			for i, a := range call.Args[1:] {
				lit, ok := a.(*ast.BasicLit)
				require.True(t, ok, "%s: fuzzOperation takes string literals", fn.Name.Name)
				args[i], err = strconv.Unquote(lit.Value)
				require.NoError(t, err)
			}
			targets[args] = fn.Name.Name
			return false
		})
	}
	for _, service := range services {
		for _, op := range spec(t, service).Operations {
			if op.Body == nil && len(op.Params) == 0 {
				continue
			}
			_, ok := targets[[2]string{service, op.ID}]
			require.True(t, ok, "%s %s takes input but has no fuzz target: add a Fuzz function calling fuzzOperation(f, %q, %q) to fuzz_test.go", service, op, service, op.ID)
		}
	}
}
