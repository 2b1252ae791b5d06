package features

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

func splitRef(ref string) (string, string) {
	ns, key, _ := strings.Cut(ref, "/")
	return ns, key
}

func (w *world) registerMemory(sc *godog.ScenarioContext) {
	put := func(value, ref string, ttl int32) error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		ns, key := splitRef(ref)
		in := &orchestratorapi.MemoryInput{Value: value}
		if ttl > 0 {
			in.TTLSeconds = orchestratorapi.NewOptInt32(ttl)
		}
		_, err = c.PutMemory(context.Background(), in, orchestratorapi.PutMemoryParams{Namespace: ns, Key: key})
		return err
	}
	sc.Step(`^I remember "([^"]*)" as "([^"]*)"$`, func(v, ref string) error { return put(v, ref, 0) })
	sc.Step(`^I remember "([^"]*)" as "([^"]*)" for (\d+) seconds?$`, func(v, ref string, ttl int32) error { return put(v, ref, ttl) })
	recall := func(tenant, ref string) (*orchestratorapi.MemoryItem, error) {
		c, err := w.orch(w.env.urls["orchestrator"], creds{tenant: tenant})
		if err != nil {
			return nil, err
		}
		ns, key := splitRef(ref)
		item, err := c.GetMemory(context.Background(), orchestratorapi.GetMemoryParams{Namespace: ns, Key: key})
		w.noteErr(err)
		return item, err
	}
	sc.Step(`^recalling "([^"]*)" gives "([^"]*)"$`, func(ref, want string) error {
		item, err := recall(w.tenantID, ref)
		if err != nil {
			return err
		}
		if item.Value != want {
			return fmt.Errorf("recalled %q", item.Value)
		}
		return nil
	})
	sc.Step(`^recalling "([^"]*)" fails with a 404 problem$`, func(ref string) error {
		_, _ = recall(w.tenantID, ref)
		return w.failedWithProblem(404, "not_found")
	})
	sc.Step(`^another tenant recalling "([^"]*)" gets a 404 problem$`, func(ref string) error {
		mine := w.tenantID
		if err := w.newTenant("memory_other", 1000, 1000); err != nil {
			return err
		}
		other := w.tenantID
		w.tenantID = mine
		_, _ = recall(other, ref)
		return w.failedWithProblem(404, "not_found")
	})
	sc.Step(`^I forget "([^"]*)"$`, func(ref string) error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		ns, key := splitRef(ref)
		return c.DeleteMemory(context.Background(), orchestratorapi.DeleteMemoryParams{Namespace: ns, Key: key})
	})
	sc.Step(`^I search "([^"]*)" for "([^"]*)" with top (\d+)$`, func(ns, query string, k int32) error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		res, err := c.SearchMemory(context.Background(), &orchestratorapi.MemorySearchInput{Query: query, TopK: orchestratorapi.NewOptInt32(k)}, orchestratorapi.SearchMemoryParams{Namespace: ns})
		if err != nil {
			return err
		}
		w.names = nil
		for _, m := range res.Items {
			w.names = append(w.names, ns+"/"+m.Key)
		}
		return nil
	})
	sc.Step(`^the matches are "([^"]*)" then "([^"]*)"$`, func(a, b string) error { return w.namesAre(a, b) })
	sc.Step(`^([\d.]+) seconds pass$`, func(secs float64) error {
		time.Sleep(time.Duration(secs * float64(time.Second)))
		return nil
	})
}
