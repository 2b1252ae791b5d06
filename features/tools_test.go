package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// toolState is one scenario's tool-call state: a test web server on 127.0.0.1 and the
// last run on the model node.
type toolState struct {
	w    *world
	web  *httptest.Server
	hits atomic.Int64
	port string
	run  *orchestratorapi.Run
}

func (w *world) registerTools(sc *godog.ScenarioContext) {
	s := &toolState{w: w}
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if s.web != nil {
			s.web.Close()
		}
		return ctx, err
	})
	// expand replaces {web} by the test web server's base URL and {port} by its port.
	expand := func(v string) string {
		if s.web != nil {
			v = strings.ReplaceAll(v, "{web}", s.web.URL)
			v = strings.ReplaceAll(v, "{port}", s.port)
		}
		return v
	}

	sc.Step(`^`+who+`( on the model node)? authorizes (?:the tool call "([^"]*)"|http_fetch of "([^"]*)")$`, func(whoText, node, tool, u string) error {
		alias := strings.Trim(strings.TrimPrefix(whoText, "tenant "), `"`)
		var base, id string
		if onNode(node) {
			n, err := w.env.modelNode()
			if err != nil {
				return err
			}
			id = w.env.tenantID(alias)
			if err := w.putTenantAt(n.orchURL, n.adminToken, id, "", nil, nil); err != nil {
				return err
			}
			base = n.mpURL
		} else {
			base, id = w.env.urls["modelpolicy"], w.env.tenantID(alias)
			if alias == "the default tenant" {
				id = w.env.defaultTenant
			}
		}
		req := map[string]string{"tool": tool, "type": "builtin", "run_id": "run_features", "agent_id": "features"}
		if u != "" {
			req["tool"], req["url"] = "http_fetch", u
		}
		body, err := json.Marshal(req)
		if err != nil {
			return err
		}
		return w.send(http.MethodPost, base+"/v1/tools:authorize", http.Header{"X-Tenant-Id": {id}, "Content-Type": {"application/json"}}, body)
	})
	sc.Step(`^the tool call is allowed (?:without obligations|with obligations (.+))$`, func(want string) error {
		if w.status != http.StatusOK {
			return fmt.Errorf("status %d: %s", w.status, truncate(w.body))
		}
		var d struct {
			Allow          bool                       `json:"allow"`
			Obligations    map[string]json.RawMessage `json:"obligations"`
			PolicyRevision string                     `json:"policy_revision"`
		}
		if err := json.Unmarshal(w.body, &d); err != nil {
			return err
		}
		if !d.Allow || d.PolicyRevision == "" {
			return fmt.Errorf("decision %s", truncate(w.body))
		}
		got := map[string]string{}
		for k, v := range d.Obligations {
			got[k] = string(v)
		}
		wantMap := map[string]string{}
		for _, kv := range strings.Split(strings.ReplaceAll(want, " and ", ", "), ", ") {
			if k, v, ok := strings.Cut(kv, " "); ok {
				wantMap[k] = v
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(wantMap) {
			return fmt.Errorf("obligations %v, want %v", got, wantMap)
		}
		return nil
	})
	sc.Step(`^the problem gives the reason "(.*)"$`, func(want string) error {
		want = strings.ReplaceAll(want, `\"`, `"`)
		var p struct {
			Errors []struct {
				Field  string `json:"field"`
				Reason string `json:"reason"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(w.body, &p); err != nil {
			return err
		}
		for _, e := range p.Errors {
			if e.Field == "policy" && strings.Contains(e.Reason, want) {
				return nil
			}
		}
		return fmt.Errorf("problem %s lacks the reason %q", truncate(w.body), want)
	})

	sc.Step(`^a test web server on 127\.0\.0\.1 saying "([^"]*)"$`, func(text string) error {
		s.web = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			s.hits.Add(1)
			rw.Header().Set("Content-Type", "text/plain")
			_, _ = rw.Write([]byte(text))
		}))
		_, s.port, _ = net.SplitHostPort(s.web.Listener.Addr().String())
		return nil
	})
	sc.Step(`^the test web server received no request$`, func() error {
		if n := s.hits.Load(); n != 0 {
			return fmt.Errorf("the test web server received %d requests", n)
		}
		return nil
	})
	sc.Step(`^tenant "([^"]*)" on the model node runs an agent with tool "([^"]*)" on the input:$`, func(alias, tool string, doc *godog.DocString) error {
		n, err := w.env.modelNode()
		if err != nil {
			return err
		}
		id := w.env.tenantID(alias)
		if err := w.putTenantAt(n.orchURL, n.adminToken, id, "", nil, nil); err != nil {
			return err
		}
		c, err := w.orch(n.orchURL, creds{tenant: id})
		if err != nil {
			return err
		}
		ctx := context.Background()
		if _, err := c.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: []orchestratorapi.Tool{
			{Name: tool, Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)},
		}}, orchestratorapi.PutAgentParams{AgentID: "tool-user"}); err != nil {
			return err
		}
		res, err := c.CreateRun(ctx, &orchestratorapi.RunInput{Input: expand(strings.TrimSpace(doc.Content))}, orchestratorapi.CreateRunParams{AgentID: "tool-user"})
		if err != nil {
			return err
		}
		s.run, err = c.WaitRun(ctx, orchestratorapi.WaitRunParams{RunID: res.Response.RunID, Timeout: orchestratorapi.NewOptString("30s")})
		return err
	})
	sc.Step(`^the run completed with an output containing "(.*)"$`, func(want string) error {
		if s.run == nil {
			return errors.New("no run")
		}
		want = expand(strings.ReplaceAll(want, `\"`, `"`))
		if s.run.Status != orchestratorapi.RunStatusCompleted {
			return fmt.Errorf("run %s: %+v", s.run.Status, s.run.Error)
		}
		if out := s.run.Output.Or(""); !strings.Contains(out, want) {
			return fmt.Errorf("output %q does not contain %q", out, want)
		}
		return nil
	})
}
