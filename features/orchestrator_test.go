package features

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"github.com/go-faster/jx"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/platform"
)

// orchState is the orchestrator part of a scenario's state.
type orchState struct {
	tenantID     string
	agent        *orchestratorapi.Agent
	agentStatus  int
	run          *orchestratorapi.Run
	firstRun     *orchestratorapi.Run
	took         time.Duration // how long the last creation with ?wait took
	runIDs       []string      // run ids, cancelled after the scenario when still active
	lease        *orchestratorapi.LeasedRun
	lease2       *orchestratorapi.LeasedRun
	names        []string
	bodies       [][]byte
	statuses     []int
	replayed     []bool
	stream       *sseStream
	streams      []*sseStream
	pageSeqs     []int64
	lastTerminal bool
	owner        struct{ tenant, run string }
	secondOrch   string
	aliases      map[string]string
}

// tenantRef resolves a tenant alias: the scenario's own tenants first.
func (w *world) tenantRef(alias string) string {
	if id, ok := w.aliases[alias]; ok {
		return id
	}
	return w.env.tenantID(alias)
}

func (w *world) tclient() (*orchestratorapi.Client, error) {
	return w.orch(w.env.urls["orchestrator"], creds{tenant: w.tenantID})
}

func (w *world) wclient() (*orchestratorapi.Client, error) {
	return w.orch(w.env.urls["orchestrator"], creds{worker: w.env.workerToken})
}

func (w *world) registerOrchestrator(sc *godog.ScenarioContext) {
	sc.After(func(ctx context.Context, _ *godog.Scenario, _ error) (context.Context, error) {
		for _, s := range w.streams {
			s.close()
		}
		// Leave no active run behind: the queue is shared by every scenario.
		if c, err := w.tclient(); err == nil && w.tenantID != "" {
			for _, id := range w.runIDs {
				_, _ = c.CancelRun(context.Background(), orchestratorapi.CancelRunParams{RunID: orchestratorapi.RunId(id)})
			}
		}
		return ctx, nil
	})

	sc.Step(`^I work as a new tenant "([^"]*)"$`, func(alias string) error {
		return w.newTenant(alias, 100000, 100000)
	})
	sc.Step(`^I work as a new tenant "([^"]*)" with run quotas run_create_qps (\d+) and concurrent_runs (\d+)$`, func(alias string, qps, conc int32) error {
		return w.newTenant(alias, qps, conc)
	})

	// Agents.
	sc.Step(`^I put the agent "([^"]*)" with model "([^"]*)" and instructions "([^"]*)"$`, func(id, model, instr string) error {
		return w.putAgent(id, &orchestratorapi.AgentInput{Model: model, Instructions: orchestratorapi.NewOptString(instr)})
	})
	sc.Step(`^the answer is (\d+) with agent "([^"]*)" at version (\d+)$`, func(status int, id string, version int64) error {
		if w.agentStatus != status || w.agent == nil || string(w.agent.AgentID) != id || w.agent.Version != version {
			return fmt.Errorf("got %d %+v, want %d %s v%d", w.agentStatus, w.agent, status, id, version)
		}
		return nil
	})
	sc.Step(`^the agent "([^"]*)" exists$`, func(id string) error {
		return w.putAgent(id, &orchestratorapi.AgentInput{Model: "builtin", Instructions: orchestratorapi.NewOptString("You help.")})
	})
	sc.Step(`^the agent "([^"]*)" exists with a timeout of (\d+) seconds?$`, func(id string, secs int32) error {
		return w.putAgent(id, &orchestratorapi.AgentInput{Model: "builtin", Limits: orchestratorapi.NewOptAgentLimits(orchestratorapi.AgentLimits{TimeoutSeconds: orchestratorapi.NewOptInt32(secs)})})
	})
	sc.Step(`^the agent "([^"]*)" has versions with instructions "([^"]*)", "([^"]*)" and "([^"]*)"$`, func(id, a, b, c string) error {
		for _, instr := range []string{a, b, c} {
			if err := w.putAgent(id, &orchestratorapi.AgentInput{Model: "builtin", Instructions: orchestratorapi.NewOptString(instr)}); err != nil {
				return err
			}
		}
		return nil
	})
	sc.Step(`^I get the agent "([^"]*)"$`, func(id string) error { return w.getAgent(id, 0) })
	sc.Step(`^I get version (\d+) of the agent "([^"]*)"$`, func(v int64, id string) error { return w.getAgent(id, v) })
	sc.Step(`^I get version (\d+) with instructions "([^"]*)"$`, func(v int64, instr string) error {
		if w.clientErr != nil {
			return w.clientErr
		}
		if w.agent.Version != v || w.agent.Instructions != instr {
			return fmt.Errorf("got version %d %q", w.agent.Version, w.agent.Instructions)
		}
		return nil
	})
	sc.Step(`^agents "([^"]*)", "([^"]*)", "([^"]*)" labelled "([^"]*)" and "([^"]*)", "([^"]*)" labelled "([^"]*)" were put in that order$`,
		func(a1, a2, a3, la, b1, b2, lb string) error {
			for _, p := range []struct{ id, label string }{{a1, la}, {a2, la}, {a3, la}, {b1, lb}, {b2, lb}} {
				k, v, _ := strings.Cut(p.label, "=")
				if err := w.putAgent(p.id, &orchestratorapi.AgentInput{Model: "builtin", Labels: orchestratorapi.NewOptStringMap(orchestratorapi.StringMap{k: v})}); err != nil {
					return err
				}
				time.Sleep(2 * time.Millisecond) // distinct update times
			}
			return nil
		})
	sc.Step(`^I list agents (\d+) at a time$`, func(n int32) error { return w.listAgents(n, nil) })
	sc.Step(`^I list agents with label "([^"]*)"$`, func(sel string) error { return w.listAgents(50, []string{sel}) })
	sc.Step(`^the listing is "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)"$`, func(a, b, c, d, e string) error {
		return w.namesAre(a, b, c, d, e)
	})
	sc.Step(`^the listing is "([^"]*)", "([^"]*)", "([^"]*)"$`, func(a, b, c string) error { return w.namesAre(a, b, c) })
	sc.Step(`^I delete the agent "([^"]*)"$`, func(id string) error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		return c.DeleteAgent(context.Background(), orchestratorapi.DeleteAgentParams{AgentID: orchestratorapi.AgentId(id)})
	})
	sc.Step(`^getting the agent "([^"]*)" fails with a 404 problem$`, func(id string) error {
		_ = w.getAgent(id, 0)
		return w.failedWithProblem(404, "not_found")
	})
	sc.Step(`^the run still names agent "([^"]*)" at version (\d+)$`, func(id string, v int64) error {
		if err := w.refreshRun(); err != nil {
			return err
		}
		if string(w.run.AgentID) != id || w.run.AgentVersion != v {
			return fmt.Errorf("run names %s v%d", w.run.AgentID, w.run.AgentVersion)
		}
		return nil
	})
	sc.Step(`^creating a run of "([^"]*)" fails with a (\d+) problem with code "([^"]*)"$`, func(id string, status int, code string) error {
		_ = w.createRun(id, "x", nil)
		return w.failedWithProblem(status, code)
	})
	sc.Step(`^I put the agent "([^"]*)" with the body:$`, func(id string, doc *godog.DocString) error {
		h := http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {w.tenantID}}
		return w.send(http.MethodPut, w.env.urls["orchestrator"]+"/v1/agents/"+id, h, []byte(doc.Content))
	})

	// Runs.
	sc.Step(`^I send the README's run request for "([^"]*)"$`, func(agent string) error {
		h := http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {w.tenantID}}
		if err := w.send(http.MethodPost, w.env.urls["orchestrator"]+"/v1/agents/"+agent+"/runs", h, []byte(`{"input": "hello"}`)); err != nil {
			return err
		}
		var r orchestratorapi.Run
		if w.status == 201 {
			if err := r.UnmarshalJSON(w.body); err != nil {
				return err
			}
			w.run = &r
			w.runIDs = append(w.runIDs, string(r.RunID))
		}
		return nil
	})
	sc.Step(`^the answer is 201 with a queued run of "([^"]*)" at version (\d+) with input "([^"]*)"$`, func(agent string, v int64, input string) error {
		if w.clientErr != nil {
			return w.clientErr
		}
		if w.status != 201 || w.run == nil {
			return fmt.Errorf("status %d, run %+v", w.status, w.run)
		}
		r := w.run
		if string(r.AgentID) != agent || r.AgentVersion != v || r.Input != input || r.Status != "queued" ||
			string(r.TenantID) != w.tenantID || !strings.HasPrefix(string(r.RunID), "run_") || r.Attempt != 0 || r.CreatedAt.IsZero() || r.LastSeq != 1 {
			return fmt.Errorf("unexpected run %+v", *r)
		}
		return nil
	})
	sc.Step(`^I create a run of "([^"]*)" with input "([^"]*)"$`, func(agent, input string) error {
		_ = w.createRun(agent, input, nil)
		return nil
	})
	sc.Step(`^I created a run of "([^"]*)" with input "([^"]*)"$`, func(agent, input string) error {
		return w.createRun(agent, input, nil)
	})
	sc.Step(`^I created a run of "([^"]*)" with input "([^"]*)" and a deadline in (\d+) seconds?$`, func(agent, input string, secs int) error {
		d := time.Now().Add(time.Duration(secs) * time.Second)
		return w.createRun(agent, input, &d)
	})
	sc.Step(`^I created a run of "([^"]*)" with input "([^"]*)" and timeout_seconds (\d+)$`, func(agent, input string, secs int32) error {
		return w.createRunWith(agent, &orchestratorapi.RunInput{Input: input, TimeoutSeconds: orchestratorapi.NewOptInt32(secs)})
	})
	sc.Step(`^I created runs of "([^"]*)" with inputs "([^"]*)", "([^"]*)" and "([^"]*)"$`, func(agent, a, b, c string) error {
		for _, in := range []string{a, b, c} {
			if err := w.createRun(agent, in, nil); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	})
	sc.Step(`^I created runs of "([^"]*)" with inputs "([^"]*)" and "([^"]*)"$`, func(agent, a, b string) error {
		for _, in := range []string{a, b} {
			if err := w.createRun(agent, in, nil); err != nil {
				return err
			}
		}
		return nil
	})
	sc.Step(`^I list runs (\d+) at a time$`, func(n int32) error { return w.listRuns(n, "", "") })
	sc.Step(`^I list runs of agent "([^"]*)" with status "([^"]*)"$`, func(agent, status string) error { return w.listRuns(50, agent, status) })
	sc.Step(`^the run listing has inputs "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)"$`, func(a, b, c, d string) error { return w.namesAre(a, b, c, d) })
	sc.Step(`^the run listing has inputs "([^"]*)", "([^"]*)", "([^"]*)"$`, func(a, b, c string) error { return w.namesAre(a, b, c) })
	sc.Step(`^I get the run$`, w.refreshRun)
	sc.Step(`^the run has input "([^"]*)" and status "([^"]*)"$`, func(input, status string) error {
		if w.run.Input != input || string(w.run.Status) != status {
			return fmt.Errorf("run %s %s", w.run.Input, w.run.Status)
		}
		return nil
	})
	sc.Step(`^I cancel the run$`, func() error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		r, err := c.CancelRun(context.Background(), orchestratorapi.CancelRunParams{RunID: w.run.RunID})
		w.noteErr(err)
		if err == nil {
			w.run = r
		}
		return nil
	})
	sc.Step(`^the run is "([^"]*)"$`, func(status string) error {
		if err := w.refreshRun(); err != nil {
			return err
		}
		if string(w.run.Status) != status {
			return fmt.Errorf("run is %s, want %s", w.run.Status, status)
		}
		return nil
	})
	sc.Step(`^the run is "([^"]*)" with output "([^"]*)"$`, func(status, output string) error {
		if err := w.refreshRun(); err != nil {
			return err
		}
		if string(w.run.Status) != status || w.run.Output.Or("") != output {
			return fmt.Errorf("run is %s with output %q", w.run.Status, w.run.Output.Or(""))
		}
		return nil
	})
	sc.Step(`^the run is "([^"]*)" with error code "([^"]*)"$`, func(status, code string) error {
		if err := w.refreshRun(); err != nil {
			return err
		}
		if string(w.run.Status) != status || w.run.Error.Or(orchestratorapi.RunError{}).Code != code {
			return fmt.Errorf("run is %s with error %+v", w.run.Status, w.run.Error)
		}
		return nil
	})
	sc.Step(`^the run is "([^"]*)" at attempt (\d+)$`, func(status string, attempt int32) error {
		if err := w.refreshRun(); err != nil {
			return err
		}
		if string(w.run.Status) != status || w.run.Attempt != attempt {
			return fmt.Errorf("run is %s at attempt %d", w.run.Status, w.run.Attempt)
		}
		return nil
	})
	sc.Step(`^the run's events are "([^"]*)"$`, func(list string) error {
		evs, err := w.runEvents()
		if err != nil {
			return err
		}
		var types []string
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				return fmt.Errorf("event %d has seq %d", i, e.Seq)
			}
			types = append(types, e.Type)
		}
		if got := strings.Join(types, ", "); got != list {
			return fmt.Errorf("events %q, want %q", got, list)
		}
		return nil
	})
	sc.Step(`^the run's last event is "([^"]*)"$`, func(typ string) error {
		evs, err := w.runEvents()
		if err != nil || len(evs) == 0 {
			return fmt.Errorf("no events: %v", err)
		}
		if evs[len(evs)-1].Type != typ {
			return fmt.Errorf("last event %s", evs[len(evs)-1].Type)
		}
		return nil
	})
	sc.Step(`^the run's usage is (\d+) prompt and (\d+) completion tokens$`, func(p, c int64) error {
		if err := w.refreshRun(); err != nil {
			return err
		}
		if w.run.Usage.PromptTokens != p || w.run.Usage.CompletionTokens != c {
			return fmt.Errorf("usage %+v", w.run.Usage)
		}
		return nil
	})
	sc.Step(`^the run's last seq is (\d+)$`, func(n int64) error {
		if err := w.refreshRun(); err != nil {
			return err
		}
		if w.run.LastSeq != n {
			return fmt.Errorf("last seq %d", w.run.LastSeq)
		}
		return nil
	})
	sc.Step(`^I wait for the run for "([^"]*)"$`, func(timeout string) error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		r, err := c.WaitRun(context.Background(), orchestratorapi.WaitRunParams{RunID: w.run.RunID, Timeout: orchestratorapi.NewOptString(timeout)})
		if err != nil {
			return err
		}
		w.run = r
		return nil
	})
	sc.Step(`^the worker completes the run with output "([^"]*)" after (\d+) ms while I wait for it for "([^"]*)"$`, func(output string, ms int, timeout string) error {
		lease := w.lease
		go func() {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			_ = w.complete(lease, output, lease.Lease.FencingToken)
		}()
		c, err := w.tclient()
		if err != nil {
			return err
		}
		start := time.Now()
		r, err := c.WaitRun(context.Background(), orchestratorapi.WaitRunParams{RunID: w.run.RunID, Timeout: orchestratorapi.NewOptString(timeout)})
		if err != nil {
			return err
		}
		if time.Since(start) > 5*time.Second {
			return fmt.Errorf(":wait returned after %s, long after the run ended", time.Since(start))
		}
		w.run = r
		return nil
	})
	sc.Step(`^I create a run of "([^"]*)" with input "([^"]*)" waiting "([^"]*)"$`, func(agent, input, wait string) error {
		_ = w.createRunWaiting(agent, input, wait)
		return nil
	})
	sc.Step(`^I create a run of "([^"]*)" with input "([^"]*)" waiting "([^"]*)" while a test worker completes it with output "([^"]*)" after (\d+) ms$`, func(agent, input, wait, output string, ms int) error {
		done := make(chan error, 1)
		go func() {
			// Not w.complete: this goroutine leaves the scenario's state alone.
			lr, err := w.leaseRunWith(func(r *orchestratorapi.Run) bool { return r.Input == input }, "test-worker-2")
			if err != nil {
				done <- err
				return
			}
			time.Sleep(time.Duration(ms) * time.Millisecond)
			c, err := w.wclient()
			if err == nil {
				_, err = c.CompleteRun(context.Background(), &orchestratorapi.CompleteInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken,
					Output: output}, orchestratorapi.CompleteRunParams{RunID: lr.Run.RunID})
			}
			done <- err
		}()
		if err := w.createRunWaiting(agent, input, wait); err != nil {
			return err
		}
		return <-done
	})
	sc.Step(`^the creation answered the run "([^"]*)"(?: with output "([^"]*)")?$`, func(status, output string) error {
		if w.run == nil || string(w.run.Status) != status || w.run.Output.Or("") != output {
			return fmt.Errorf("the creation answered %+v; want %s with output %q", w.run, status, output)
		}
		return nil
	})
	sc.Step(`^the creation took at least (\d+) ms$`, func(ms int) error {
		if w.took < time.Duration(ms)*time.Millisecond {
			return fmt.Errorf("the creation took %s", w.took)
		}
		return nil
	})
	sc.Step(`^the last response has a Retry-After header$`, func() error {
		if w.header.Get("Retry-After") == "" {
			return errors.New("no Retry-After header")
		}
		return nil
	})

	w.registerWorkerSteps(sc)
	w.registerIdempotencySteps(sc)
	w.registerStreamSteps(sc)
	w.registerIsolationSteps(sc)
}

// newTenant creates a tenant of the scenario's own (an alias may repeat across
// scenarios) and makes it the current one.
func (w *world) newTenant(alias string, qps, conc int32) error {
	id := w.env.tenantID(alias + "_" + randomHex(3))
	if w.aliases == nil {
		w.aliases = map[string]string{}
	}
	w.aliases[alias] = id
	if err := w.putTenant(id, "", nil, &orchestratorapi.TenantQuotas{RunCreateQPS: orchestratorapi.NewOptInt32(qps), ConcurrentRuns: orchestratorapi.NewOptInt32(conc)}); err != nil {
		return err
	}
	w.tenantID = id
	return nil
}

func (w *world) putAgent(id string, in *orchestratorapi.AgentInput) error {
	c, err := w.tclient()
	if err != nil {
		return err
	}
	res, err := c.PutAgent(context.Background(), in, orchestratorapi.PutAgentParams{AgentID: orchestratorapi.AgentId(id)})
	w.noteErr(err)
	if err != nil {
		return err
	}
	switch r := res.(type) {
	case *orchestratorapi.PutAgentCreated:
		a := orchestratorapi.Agent(*r)
		w.agent, w.agentStatus = &a, 201
	case *orchestratorapi.PutAgentOK:
		a := orchestratorapi.Agent(*r)
		w.agent, w.agentStatus = &a, 200
	}
	return nil
}

func (w *world) getAgent(id string, version int64) error {
	c, err := w.tclient()
	if err != nil {
		return err
	}
	p := orchestratorapi.GetAgentParams{AgentID: orchestratorapi.AgentId(id)}
	if version > 0 {
		p.Version = orchestratorapi.NewOptInt64(version)
	}
	a, err := c.GetAgent(context.Background(), p)
	w.noteErr(err)
	if err == nil {
		w.agent = a
	}
	return nil
}

func (w *world) listAgents(size int32, labels []string) error {
	c, err := w.tclient()
	if err != nil {
		return err
	}
	w.names = nil
	p := orchestratorapi.ListAgentsParams{Limit: orchestratorapi.NewOptInt32(size), Label: labels}
	for range 1000 {
		page, err := c.ListAgents(context.Background(), p)
		if err != nil {
			return err
		}
		if len(page.Items) > int(size) {
			return fmt.Errorf("page of %d > %d", len(page.Items), size)
		}
		for _, a := range page.Items {
			w.names = append(w.names, string(a.AgentID))
		}
		next, ok := page.NextCursor.Get()
		if !ok {
			return nil
		}
		p.Cursor = orchestratorapi.NewOptString(next)
	}
	return errors.New("listing did not end")
}

func (w *world) namesAre(want ...string) error {
	if !slices.Equal(w.names, want) {
		return fmt.Errorf("got %v, want %v", w.names, want)
	}
	return nil
}

func (w *world) createRun(agent, input string, deadline *time.Time) error {
	in := &orchestratorapi.RunInput{Input: input}
	if deadline != nil {
		in.Deadline = orchestratorapi.NewOptDateTime(*deadline)
	}
	return w.createRunWith(agent, in)
}

func (w *world) createRunWith(agent string, in *orchestratorapi.RunInput) error {
	c, err := w.tclient()
	if err != nil {
		return err
	}
	res, err := c.CreateRun(context.Background(), in, orchestratorapi.CreateRunParams{AgentID: orchestratorapi.AgentId(agent)})
	w.noteErr(err)
	if err != nil {
		return err
	}
	r := res.Response
	w.run = &r
	if w.firstRun == nil {
		w.firstRun = &r
	}
	w.runIDs = append(w.runIDs, string(r.RunID))
	return nil
}

// createRunWaiting creates a run with ?wait, noting the answer and how long it took.
func (w *world) createRunWaiting(agent, input, wait string) error {
	c, err := w.tclient()
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := c.CreateRun(context.Background(), &orchestratorapi.RunInput{Input: input},
		orchestratorapi.CreateRunParams{AgentID: orchestratorapi.AgentId(agent), Wait: orchestratorapi.NewOptString(wait)})
	w.took = time.Since(start)
	w.noteErr(err)
	if err != nil {
		return err
	}
	r := res.Response
	w.run = &r
	w.runIDs = append(w.runIDs, string(r.RunID))
	return nil
}

func (w *world) refreshRun() error {
	c, err := w.tclient()
	if err != nil {
		return err
	}
	r, err := c.GetRun(context.Background(), orchestratorapi.GetRunParams{RunID: w.run.RunID})
	if err != nil {
		return err
	}
	w.run = r
	return nil
}

func (w *world) listRuns(size int32, agent, status string) error {
	c, err := w.tclient()
	if err != nil {
		return err
	}
	w.names = nil
	p := orchestratorapi.ListRunsParams{Limit: orchestratorapi.NewOptInt32(size)}
	if agent != "" {
		p.AgentID = orchestratorapi.NewOptAgentId(orchestratorapi.AgentId(agent))
	}
	if status != "" {
		p.Status = []orchestratorapi.RunStatus{orchestratorapi.RunStatus(status)}
	}
	for range 1000 {
		page, err := c.ListRuns(context.Background(), p)
		if err != nil {
			return err
		}
		for _, r := range page.Items {
			w.names = append(w.names, r.Input)
		}
		next, ok := page.NextCursor.Get()
		if !ok {
			return nil
		}
		p.Cursor = orchestratorapi.NewOptString(next)
	}
	return errors.New("listing did not end")
}

// runEvents reads the current run's whole event log as JSON pages.
func (w *world) runEvents() ([]orchestratorapi.RunEvent, error) {
	c, err := w.tclient()
	if err != nil {
		return nil, err
	}
	var out []orchestratorapi.RunEvent
	after := int64(0)
	for range 1000 {
		res, err := c.GetRunEvents(context.Background(), orchestratorapi.GetRunEventsParams{
			RunID: w.run.RunID, Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON), After: orchestratorapi.NewOptInt64(after),
		})
		if err != nil {
			return nil, err
		}
		page, ok := res.(*orchestratorapi.RunEventPage)
		if !ok {
			return nil, fmt.Errorf("got %T", res)
		}
		if len(page.Events) == 0 {
			return out, nil
		}
		out = append(out, page.Events...)
		after = page.NextAfter.Or(after)
	}
	return out, nil
}

// rawCreate posts a run request and keeps the raw answer (for byte comparisons).
func (w *world) rawCreate(tenant, agent, body, key string) (int, []byte, bool, error) {
	req, err := http.NewRequest(http.MethodPost, w.env.urls["orchestrator"]+"/v1/agents/"+agent+"/runs", strings.NewReader(body))
	if err != nil {
		return 0, nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tenant-Id", tenant)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Idempotent-Replayed") == "true", err
}

func runIDOf(body []byte) string {
	var v struct {
		RunID string `json:"run_id"`
	}
	_ = json.Unmarshal(body, &v)
	return v.RunID
}

func (w *world) registerIdempotencySteps(sc *godog.ScenarioContext) {
	record := func(status int, body []byte, replayed bool, err error) error {
		if err != nil {
			return err
		}
		w.statuses = append(w.statuses, status)
		w.bodies = append(w.bodies, body)
		w.replayed = append(w.replayed, replayed)
		w.status, w.body = status, body
		w.problem = nil
		var p problemBody
		if json.Unmarshal(body, &p) == nil && p.Code != "" {
			w.problem = &p
			w.header = http.Header{"X-Request-Id": {p.RequestID}}
		}
		if id := runIDOf(body); id != "" {
			w.runIDs = append(w.runIDs, id)
		}
		return nil
	}
	sc.Step(`^I create a run of "([^"]*)" with input "([^"]*)" and Idempotency-Key "([^"]*)"$`, func(agent, input, key string) error {
		return record(w.rawCreate(w.tenantID, agent, fmt.Sprintf(`{"input": %q}`, input), key))
	})
	sc.Step(`^I create a run of "([^"]*)" with input "([^"]*)" and body idempotency_key "([^"]*)"$`, func(agent, input, key string) error {
		return record(w.rawCreate(w.tenantID, agent, fmt.Sprintf(`{"idempotency_key": %q, "input": %q}`, key, input), ""))
	})
	sc.Step(`^both answers are 201 with identical bodies and the second is marked replayed$`, func() error {
		if len(w.bodies) != 2 || w.statuses[0] != 201 || w.statuses[1] != 201 {
			return fmt.Errorf("statuses %v", w.statuses)
		}
		if !bytes.Equal(w.bodies[0], w.bodies[1]) {
			return fmt.Errorf("bodies differ:\n%s\n%s", w.bodies[0], w.bodies[1])
		}
		if w.replayed[0] || !w.replayed[1] {
			return fmt.Errorf("replayed flags %v", w.replayed)
		}
		return nil
	})
	sc.Step(`^the tenant has (\d+) runs?$`, func(n int) error {
		if err := w.listRuns(200, "", ""); err != nil {
			return err
		}
		if len(w.names) != n {
			return fmt.Errorf("tenant has %d runs", len(w.names))
		}
		return nil
	})
	sc.Step(`^(\d+) clients create a run of "([^"]*)" with input "([^"]*)" and Idempotency-Key "([^"]*)" at once, retrying while it is in use$`, func(n int, agent, input, key string) error {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				body := fmt.Sprintf(`{"input": %q}`, input)
				for range 500 {
					status, b, replayed, err := w.rawCreate(w.tenantID, agent, body, key)
					if err != nil {
						errs[i] = err
						return
					}
					if status == http.StatusConflict {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					mu.Lock()
					w.statuses = append(w.statuses, status)
					w.bodies = append(w.bodies, b)
					w.replayed = append(w.replayed, replayed)
					mu.Unlock()
					return
				}
				errs[i] = errors.New("still in use after 500 tries")
			})
		}
		close(start)
		wg.Wait()
		return errors.Join(errs...)
	})
	sc.Step(`^every answer is 201 with the same body, all but one marked replayed$`, func() error {
		fresh := 0
		for i := range w.bodies {
			if w.statuses[i] != 201 || !bytes.Equal(w.bodies[i], w.bodies[0]) {
				return fmt.Errorf("answer %d: %d %s", i, w.statuses[i], w.bodies[i])
			}
			if !w.replayed[i] {
				fresh++
			}
		}
		if fresh != 1 {
			return fmt.Errorf("%d answers were not replays", fresh)
		}
		w.runIDs = append(w.runIDs, runIDOf(w.bodies[0]))
		return nil
	})
	sc.Step(`^as a new tenant "([^"]*)" with the agent "([^"]*)" I create a run with input "([^"]*)" and Idempotency-Key "([^"]*)"$`, func(alias, agent, input, key string) error {
		mine := w.tenantID
		if err := w.newTenant(alias, 100000, 100000); err != nil {
			return err
		}
		other := w.tenantID
		defer func() { w.tenantID = mine }()
		if err := w.putAgent(agent, &orchestratorapi.AgentInput{Model: "builtin"}); err != nil {
			return err
		}
		status, b, _, err := w.rawCreate(other, agent, fmt.Sprintf(`{"input": %q}`, input), key)
		if err != nil {
			return err
		}
		if status != 201 {
			return fmt.Errorf("status %d: %s", status, b)
		}
		w.bodies = append(w.bodies, b)
		return nil
	})
	sc.Step(`^the two runs are different$`, func() error {
		if len(w.bodies) != 2 || runIDOf(w.bodies[0]) == "" || runIDOf(w.bodies[0]) == runIDOf(w.bodies[1]) {
			return fmt.Errorf("runs %q and %q", runIDOf(w.bodies[0]), runIDOf(w.bodies[len(w.bodies)-1]))
		}
		return nil
	})
	sc.Step(`^I create (\d+) runs of "([^"]*)" as fast as I can$`, func(n int, agent string) error {
		for range n {
			if err := record(w.rawCreate(w.tenantID, agent, `{"input": "burst"}`, "")); err != nil {
				return err
			}
		}
		return nil
	})
	sc.Step(`^at most (\d+) were created and the others were 429 problems with code "([^"]*)" and a Retry-After header$`, func(most int, code string) error {
		created, limited := 0, 0
		for i, st := range w.statuses {
			switch st {
			case 201:
				created++
			case 429:
				var p problemBody
				if err := json.Unmarshal(w.bodies[i], &p); err != nil || p.Code != code {
					return fmt.Errorf("429 body %s", w.bodies[i])
				}
				limited++
			default:
				return fmt.Errorf("status %d: %s", st, w.bodies[i])
			}
		}
		if created > most || created == 0 || limited == 0 {
			return fmt.Errorf("%d created, %d limited", created, limited)
		}
		// Retry-After is checked on a fresh refused request.
		req, _ := http.NewRequest(http.MethodPost, w.env.urls["orchestrator"]+"/v1/agents/my-agent/runs", strings.NewReader(`{"input": "x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tenant-Id", w.tenantID)
		for range 20 {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 429 {
				if resp.Header.Get("Retry-After") == "" {
					return errors.New("429 without Retry-After")
				}
				return nil
			}
			w.runIDs = append(w.runIDs, runIDOf(b))
		}
		return errors.New("never refused again")
	})
}

// eventData is a small JSON object for test events.
func eventData(kv ...string) orchestratorapi.OptWorkerEventData {
	m := orchestratorapi.WorkerEventData{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = jx.Raw(fmt.Sprintf("%q", kv[i+1]))
	}
	return orchestratorapi.NewOptWorkerEventData(m)
}

var _ = platform.Orchestrator
