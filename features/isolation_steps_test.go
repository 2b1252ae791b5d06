package features

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

func (w *world) registerIsolationSteps(sc *godog.ScenarioContext) {
	sc.Step(`^tenant "([^"]*)" has the agent "([^"]*)" and a run of it$`, func(alias, agent string) error {
		if err := w.newTenant(alias, 100000, 100000); err != nil {
			return err
		}
		if err := w.putAgent(agent, &orchestratorapi.AgentInput{Model: "builtin", Instructions: orchestratorapi.NewOptString("owner's")}); err != nil {
			return err
		}
		if err := w.createRun(agent, "owner's input", nil); err != nil {
			return err
		}
		w.owner.tenant, w.owner.run = w.tenantID, string(w.run.RunID)
		return nil
	})
	sc.Step(`^listing agents shows nothing$`, func() error {
		if err := w.listAgents(200, nil); err != nil {
			return err
		}
		if len(w.names) != 0 {
			return fmt.Errorf("listed %v", w.names)
		}
		return nil
	})
	sc.Step(`^putting the agent "([^"]*)" creates my own agent at version 1$`, func(id string) error {
		if err := w.putAgent(id, &orchestratorapi.AgentInput{Model: "builtin", Instructions: orchestratorapi.NewOptString("intruder's")}); err != nil {
			return err
		}
		if w.agentStatus != 201 || w.agent.Version != 1 {
			return fmt.Errorf("got %d version %d", w.agentStatus, w.agent.Version)
		}
		return nil
	})
	sc.Step(`^deleting the owner's agent through my tenant leaves it in place$`, func() error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		if err := c.DeleteAgent(context.Background(), orchestratorapi.DeleteAgentParams{AgentID: "secret"}); err != nil {
			return err // my own agent, created above
		}
		oc, err := w.orch(w.env.urls["orchestrator"], creds{tenant: w.owner.tenant})
		if err != nil {
			return err
		}
		a, err := oc.GetAgent(context.Background(), orchestratorapi.GetAgentParams{AgentID: "secret"})
		if err != nil {
			return fmt.Errorf("the owner's agent is gone: %w", err)
		}
		if a.Instructions != "owner's" {
			return fmt.Errorf("the owner's agent changed: %q", a.Instructions)
		}
		return nil
	})
	sc.Step(`^getting, cancelling, waiting for and streaming the owner's run are 404 problems$`, func() error {
		base := w.env.urls["orchestrator"] + "/v1/runs/" + w.owner.run
		h := http.Header{"X-Tenant-Id": {w.tenantID}, "Content-Type": {"application/json"}}
		for _, req := range []struct{ method, url string }{
			{http.MethodGet, base},
			{http.MethodPost, base + ":cancel"},
			{http.MethodGet, base + ":wait?timeout=100ms"},
			{http.MethodGet, base + "/events"},
			{http.MethodGet, base + "/events?format=json"},
			{http.MethodPost, w.env.urls["orchestrator"] + "/v1/agents/secret/runs"},
		} {
			var body []byte
			if req.method == http.MethodPost {
				body = []byte(`{"input": "x"}`)
			}
			if err := w.send(req.method, req.url, h, body); err != nil {
				return err
			}
			if strings.HasSuffix(req.url, "/v1/agents/secret/runs") {
				continue // my own agent "secret" was deleted: also a 404
			}
			if err := w.responseProblem(404, "not_found"); err != nil {
				return fmt.Errorf("%s %s: %w", req.method, req.url, err)
			}
		}
		return w.responseProblem(404, "not_found")
	})
	sc.Step(`^listing runs shows only my own$`, func() error {
		if err := w.listRuns(200, "", ""); err != nil {
			return err
		}
		if len(w.names) != 0 {
			return fmt.Errorf("listed %v", w.names)
		}
		return nil
	})
	sc.Step(`^the owner's run is untouched$`, func() error {
		oc, err := w.orch(w.env.urls["orchestrator"], creds{tenant: w.owner.tenant})
		if err != nil {
			return err
		}
		r, err := oc.GetRun(context.Background(), orchestratorapi.GetRunParams{RunID: orchestratorapi.RunId(w.owner.run)})
		if err != nil {
			return err
		}
		if r.Status != "queued" || r.LastSeq != 1 {
			return fmt.Errorf("owner's run is %s with %d events", r.Status, r.LastSeq)
		}
		return nil
	})

	// Observability.
	sc.Step(`^the metrics include "(.*)"$`, func(series string) error {
		series = strings.ReplaceAll(series, `\"`, `"`)
		if !strings.Contains(w.metrics, series) {
			return fmt.Errorf("metrics lack %s", series)
		}
		return nil
	})
	sc.Step(`^the tenant's audit actions are "([^"]*)"$`, func(list string) error {
		rows, err := w.auditRows(w.tenantID)
		if err != nil {
			return err
		}
		var actions []string
		for _, r := range rows {
			if strings.HasPrefix(r.Action, "tenant.") {
				continue
			}
			actions = append(actions, r.Action)
		}
		if got := strings.Join(actions, ", "); got != list {
			return fmt.Errorf("audit actions %q, want %q", got, list)
		}
		return nil
	})
}
