package features

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// leaseRun leases runs until it gets the scenario's run (any other run it gets is one a
// previous scenario left queued; it is failed so the queue stays clean).
func (w *world) leaseRun(runID orchestratorapi.RunId, workerID string) (*orchestratorapi.LeasedRun, error) {
	return w.leaseRunWith(func(r *orchestratorapi.Run) bool { return r.RunID == runID }, workerID)
}

// leaseRunWith leases runs until it gets one that mine picks, as leaseRun does.
func (w *world) leaseRunWith(mine func(*orchestratorapi.Run) bool, workerID string) (*orchestratorapi.LeasedRun, error) {
	c, err := w.wclient()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		res, err := c.LeaseRuns(context.Background(), &orchestratorapi.LeaseInput{WorkerID: workerID, MaxRuns: orchestratorapi.NewOptInt32(8), WaitSeconds: orchestratorapi.NewOptInt32(1)})
		if err != nil {
			return nil, err
		}
		var picked *orchestratorapi.LeasedRun
		for i := range res.Runs {
			lr := &res.Runs[i]
			if picked == nil && mine(&lr.Run) {
				picked = lr
				continue
			}
			_, _ = c.FailRun(context.Background(), &orchestratorapi.FailInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken,
				Error: orchestratorapi.RunError{Code: "stray_run", Message: "left queued by an earlier conformance scenario"}}, orchestratorapi.FailRunParams{RunID: lr.Run.RunID})
		}
		if picked != nil {
			return picked, nil
		}
	}
	return nil, errors.New("the run was never leased")
}

func (w *world) appendEvents(lr *orchestratorapi.LeasedRun, token int32, batch string, types ...string) (*orchestratorapi.AppendEventsResult, error) {
	c, err := w.wclient()
	if err != nil {
		return nil, err
	}
	in := &orchestratorapi.AppendEventsInput{LeaseID: lr.Lease.LeaseID, FencingToken: token}
	if batch != "" {
		in.BatchID = orchestratorapi.NewOptString(batch)
	}
	for i, t := range types {
		in.Events = append(in.Events, orchestratorapi.WorkerEvent{Type: orchestratorapi.WorkerEventType(t), Data: eventData("text", fmt.Sprintf("part %d", i))})
	}
	res, err := c.AppendRunEvents(context.Background(), in, orchestratorapi.AppendRunEventsParams{RunID: lr.Run.RunID})
	w.noteErr(err)
	return res, err
}

func (w *world) complete(lr *orchestratorapi.LeasedRun, output string, token int32) error {
	c, err := w.wclient()
	if err != nil {
		return err
	}
	_, err = c.CompleteRun(context.Background(), &orchestratorapi.CompleteInput{LeaseID: lr.Lease.LeaseID, FencingToken: token, Output: output,
		Usage: orchestratorapi.NewOptUsage(orchestratorapi.Usage{PromptTokens: 10, CompletionTokens: 5})}, orchestratorapi.CompleteRunParams{RunID: lr.Run.RunID})
	w.noteErr(err)
	return err
}

func (w *world) heartbeat(lr *orchestratorapi.LeasedRun) (*orchestratorapi.HeartbeatResult, error) {
	c, err := w.wclient()
	if err != nil {
		return nil, err
	}
	res, err := c.HeartbeatLease(context.Background(), &orchestratorapi.HeartbeatInput{FencingToken: lr.Lease.FencingToken}, orchestratorapi.HeartbeatLeaseParams{LeaseID: lr.Lease.LeaseID})
	w.noteErr(err)
	return res, err
}

func repeatTypes(t string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = t
	}
	return out
}

func (w *world) registerWorkerSteps(sc *godog.ScenarioContext) {
	sc.Step(`^a test worker (?:has leased|leases) the run$`, func() error {
		lr, err := w.leaseRun(w.run.RunID, "test-worker-1")
		w.lease = lr
		return err
	})
	sc.Step(`^a test worker has leased the first run$`, func() error {
		lr, err := w.leaseRun(w.firstRun.RunID, "test-worker-1")
		w.lease = lr
		return err
	})
	sc.Step(`^the worker's heartbeat reports cancellation requested$`, func() error {
		res, err := w.heartbeat(w.lease)
		if err != nil {
			return err
		}
		if !res.CancelRequested {
			return errors.New("cancel_requested is false")
		}
		return nil
	})
	sc.Step(`^the worker gives up the run with error "([^"]*)"$`, func(code string) error {
		c, err := w.wclient()
		if err != nil {
			return err
		}
		_, err = c.FailRun(context.Background(), &orchestratorapi.FailInput{LeaseID: w.lease.Lease.LeaseID, FencingToken: w.lease.Lease.FencingToken,
			Error: orchestratorapi.RunError{Code: code, Message: "stopped on request"}}, orchestratorapi.FailRunParams{RunID: w.lease.Run.RunID})
		return err
	})
	sc.Step(`^the worker completed the run with output "([^"]*)"$`, func(out string) error {
		return w.complete(w.lease, out, w.lease.Lease.FencingToken)
	})
	sc.Step(`^the worker (?:appended|posts) events "([^"]*)"$`, func(list string) error {
		_, err := w.appendEvents(w.lease, w.lease.Lease.FencingToken, "", strings.Split(list, ", ")...)
		return err
	})
	sc.Step(`^the worker completes the run with (?:output "([^"]*)"|fencing token (\d+)) and events "([^"]*)"$`, func(out string, token, list string) error {
		c, err := w.wclient()
		if err != nil {
			return err
		}
		ft := w.lease.Lease.FencingToken
		if token != "" {
			n, _ := strconv.Atoi(token)
			ft = int32(n)
		}
		in := &orchestratorapi.CompleteInput{LeaseID: w.lease.Lease.LeaseID, FencingToken: ft, Output: out}
		for i, t := range strings.Split(list, ", ") {
			in.Events = append(in.Events, orchestratorapi.WorkerEvent{Type: orchestratorapi.WorkerEventType(t), Data: eventData("text", fmt.Sprintf("part %d", i))})
		}
		_, err = c.CompleteRun(context.Background(), in, orchestratorapi.CompleteRunParams{RunID: w.lease.Run.RunID})
		w.noteErr(err)
		if token != "" {
			return nil // the next step checks the problem
		}
		return err
	})
	sc.Step(`^the lease's history is "([^"]*)"$`, func(want string) error {
		lr := w.lease
		if w.lease2 != nil {
			lr = w.lease2
		}
		var got []string
		for _, e := range lr.History {
			got = append(got, e.Type)
		}
		if strings.Join(got, ", ") != want {
			return fmt.Errorf("history %q, want %q", strings.Join(got, ", "), want)
		}
		return nil
	})
	sc.Step(`^the worker appended (\d+) model\.delta events$`, func(n int) error {
		_, err := w.appendEvents(w.lease, w.lease.Lease.FencingToken, "", repeatTypes("model.delta", n)...)
		return err
	})
	sc.Step(`^the worker appends (\d+) model\.delta events and completes the run$`, func(n int) error {
		for i := range n {
			if _, err := w.appendEvents(w.lease, w.lease.Lease.FencingToken, fmt.Sprintf("b%d", i), "model.delta"); err != nil {
				return err
			}
		}
		return w.complete(w.lease, "done", w.lease.Lease.FencingToken)
	})
	sc.Step(`^I lease runs with (no credential|the admin token|a tenant header|a wrong worker token)$`, func(cred string) error {
		h := http.Header{"Content-Type": {"application/json"}}
		switch cred {
		case "the admin token":
			h.Set("Authorization", "Bearer "+w.env.adminToken)
		case "a tenant header":
			h.Set("X-Tenant-Id", w.tenantID)
		case "a wrong worker token":
			h.Set("Authorization", "Bearer wkr_not-the-token-at-all")
		}
		return w.send(http.MethodPost, w.env.urls["orchestrator"]+"/v1/workers/lease", h, []byte(`{"worker_id": "intruder"}`))
	})
	sc.Step(`^the lease names the run, agent "([^"]*)" version (\d+), fencing token (\d+) and an expiry in the future$`, func(agent string, v int64, token int32) error {
		lr := w.lease
		if lr.Run.RunID != w.run.RunID || string(lr.Agent.AgentID) != agent || lr.Agent.Version != v || lr.Agent.Model != "builtin" ||
			lr.Lease.FencingToken != token || !strings.HasPrefix(lr.Lease.LeaseID, "lse_") || !lr.Lease.ExpiresAt.After(time.Now()) {
			return fmt.Errorf("lease %+v", *lr)
		}
		return nil
	})
	sc.Step(`^a test worker waits up to (\d+) seconds for a lease while I create a run of "([^"]*)" after (\d+) ms$`, func(secs int32, agent string, ms int) error {
		c, err := w.wclient()
		if err != nil {
			return err
		}
		// Drain anything queued before, so the long-poll really waits.
		for {
			res, err := c.LeaseRuns(context.Background(), &orchestratorapi.LeaseInput{WorkerID: "drain", MaxRuns: orchestratorapi.NewOptInt32(64)})
			if err != nil {
				return err
			}
			if len(res.Runs) == 0 {
				break
			}
			for _, lr := range res.Runs {
				_, _ = c.FailRun(context.Background(), &orchestratorapi.FailInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken,
					Error: orchestratorapi.RunError{Code: "stray_run", Message: "left queued by an earlier conformance scenario"}}, orchestratorapi.FailRunParams{RunID: lr.Run.RunID})
			}
		}
		created := make(chan error, 1)
		go func() {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			created <- w.createRun(agent, "long-poll", nil)
		}()
		start := time.Now()
		res, err := c.LeaseRuns(context.Background(), &orchestratorapi.LeaseInput{WorkerID: "poller", WaitSeconds: orchestratorapi.NewOptInt32(secs)})
		if err != nil {
			return err
		}
		if err := <-created; err != nil {
			return err
		}
		if len(res.Runs) != 1 {
			return fmt.Errorf("leased %d runs", len(res.Runs))
		}
		if time.Since(start) < time.Duration(ms)*time.Millisecond/2 {
			return errors.New("the lease answered before the run existed")
		}
		w.lease = &res.Runs[0]
		return nil
	})
	sc.Step(`^the worker got that run$`, func() error {
		if w.lease.Run.RunID != w.run.RunID {
			return fmt.Errorf("leased %s, created %s", w.lease.Run.RunID, w.run.RunID)
		}
		return nil
	})
	sc.Step(`^the worker posts events with fencing token (\d+)$`, func(token int32) error {
		_, _ = w.appendEvents(w.lease, token, "", "model.delta")
		return nil
	})
	sc.Step(`^the worker completes the run with fencing token (\d+)$`, func(token int32) error {
		_ = w.complete(w.lease, "forged", token)
		return nil
	})
	sc.Step(`^the worker stops heartbeating until the lease lapses$`, func() error {
		time.Sleep(time.Until(w.lease.Lease.ExpiresAt) + 300*time.Millisecond)
		return nil
	})
	sc.Step(`^another test worker leases the run with fencing token (\d+)$`, func(token int32) error {
		lr, err := w.leaseRun(w.run.RunID, "test-worker-2")
		if err != nil {
			return err
		}
		if lr.Lease.FencingToken != token || lr.Run.Attempt != token {
			return fmt.Errorf("fencing token %d, attempt %d", lr.Lease.FencingToken, lr.Run.Attempt)
		}
		w.lease2 = lr
		return nil
	})
	sc.Step(`^the first worker's heartbeat, events and completion are 409 problems with code "([^"]*)"$`, func(code string) error {
		_, _ = w.heartbeat(w.lease)
		if err := w.failedWithProblem(409, code); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		_, _ = w.appendEvents(w.lease, w.lease.Lease.FencingToken, "", "model.delta")
		if err := w.failedWithProblem(409, code); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		_ = w.complete(w.lease, "stale", w.lease.Lease.FencingToken)
		if err := w.failedWithProblem(409, code); err != nil {
			return fmt.Errorf("complete: %w", err)
		}
		return nil
	})
	sc.Step(`^the second worker completes the run with output "([^"]*)"$`, func(out string) error {
		return w.complete(w.lease2, out, w.lease2.Lease.FencingToken)
	})
	sc.Step(`^test workers lease the run and let the lease lapse (\d+) times$`, func(n int) error {
		for i := range n {
			lr, err := w.leaseRun(w.run.RunID, fmt.Sprintf("lapser-%d", i))
			if err != nil {
				return err
			}
			time.Sleep(time.Until(lr.Lease.ExpiresAt) + 300*time.Millisecond)
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if err := w.refreshRun(); err != nil {
				return err
			}
			if w.run.Status == "failed" {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	})
	sc.Step(`^the worker posts the batch "([^"]*)" with (\d+) events twice$`, func(batch string, n int) error {
		for range 2 {
			if _, err := w.appendEvents(w.lease, w.lease.Lease.FencingToken, batch, repeatTypes("model.delta", n)...); err != nil {
				return err
			}
		}
		return nil
	})
}
