package features

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

func (w *world) registerTenancy(sc *godog.ScenarioContext) {
	sc.Step(`^a tenant "([^"]*)" exists$`, func(alias string) error {
		return w.putTenant(w.env.tenantID(alias), "", nil, nil)
	})
	sc.Step(`^tenants "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)" and "([^"]*)" exist$`, func(a, b, c, d, e string) error {
		for _, alias := range []string{a, b, c, d, e} {
			if err := w.putTenant(w.env.tenantID(alias), "", nil, nil); err != nil {
				return err
			}
		}
		return nil
	})
	sc.Step(`^the tenant "([^"]*)" has been deleted$`, func(alias string) error {
		c, err := w.admin()
		if err != nil {
			return err
		}
		return c.DeleteTenant(context.Background(), orchestratorapi.DeleteTenantParams{TenantID: orchestratorapi.TenantId(w.env.tenantID(alias))})
	})
	sc.Step(`^I ask who I am as tenant "([^"]*)"$`, func(alias string) error {
		return w.whoami(w.env.urls["orchestrator"], creds{tenant: w.env.tenantID(alias)})
	})
	sc.Step(`^I ask who I am as the default tenant$`, func() error {
		return w.whoami(w.env.urls["orchestrator"], creds{tenant: w.env.defaultTenant})
	})
	sc.Step(`^I am tenant "([^"]*)" as principal "([^"]*)" in "([^"]*)" mode$`, func(alias, principal, mode string) error {
		if w.clientErr != nil {
			return fmt.Errorf("whoami failed: %w", w.clientErr)
		}
		c := w.caller
		if string(c.TenantID) != w.env.tenantID(alias) || c.PrincipalID != principal || string(c.AuthMode) != mode {
			return fmt.Errorf("caller %+v, want tenant %s principal %s mode %s", *c, w.env.tenantID(alias), principal, mode)
		}
		return nil
	})
	sc.Step(`^I am the default tenant$`, func() error {
		if w.clientErr != nil {
			return fmt.Errorf("whoami failed: %w", w.clientErr)
		}
		if string(w.caller.TenantID) != w.env.defaultTenant {
			return fmt.Errorf("caller tenant %s, want %s", w.caller.TenantID, w.env.defaultTenant)
		}
		return nil
	})
	sc.Step(`^the admin API shows the default tenant$`, func() error {
		c, err := w.admin()
		if err != nil {
			return err
		}
		t, err := c.GetTenant(context.Background(), orchestratorapi.GetTenantParams{TenantID: orchestratorapi.TenantId(w.env.defaultTenant)})
		if err != nil {
			return err
		}
		if string(t.TenantID) != w.env.defaultTenant {
			return fmt.Errorf("got tenant %s", t.TenantID)
		}
		return nil
	})
	sc.Step(`^the request fails with a (\d+) problem with code "([^"]*)"$`, w.failedWithProblem)

	// Admin API.
	sc.Step(`^I list tenants without credentials$`, func() error {
		return w.send(http.MethodGet, w.env.urls["orchestrator"]+"/v1/tenants", nil, nil)
	})
	sc.Step(`^I list tenants with admin token "([^"]*)"$`, func(tok string) error {
		w.listTenants(w.env.urls["orchestrator"], creds{admin: tok})
		return nil
	})
	sc.Step(`^I list tenants as tenant "([^"]*)"$`, func(tenant string) error {
		return w.send(http.MethodGet, w.env.urls["orchestrator"]+"/v1/tenants", http.Header{"X-Tenant-Id": {tenant}}, nil)
	})
	sc.Step(`^I put tenant "([^"]*)" with display name "([^"]*)" and label "([^"]*)" = "([^"]*)"$`, func(alias, name, k, v string) error {
		return w.putTenant(w.env.tenantID(alias), name, map[string]string{k: v}, nil)
	})
	sc.Step(`^I put tenant "([^"]*)" with quotas run_create_qps (\d+) and concurrent_runs (\d+)$`, func(alias string, qps, conc int32) error {
		return w.putTenant(w.env.tenantID(alias), "", nil, &orchestratorapi.TenantQuotas{
			RunCreateQPS: orchestratorapi.NewOptInt32(qps), ConcurrentRuns: orchestratorapi.NewOptInt32(conc),
		})
	})
	sc.Step(`^the tenant was (created|replaced)$`, func(what string) error {
		if w.created != (what == "created") {
			return fmt.Errorf("created = %v, want %s (status %d)", w.created, what, w.status)
		}
		return nil
	})
	sc.Step(`^tenant "([^"]*)" has display name "([^"]*)" and label "([^"]*)" = "([^"]*)"$`, func(alias, name, k, v string) error {
		t, err := w.getTenant(alias)
		if err != nil {
			return err
		}
		if t.DisplayName != name || t.Labels[k] != v || len(t.Labels) != 1 {
			return fmt.Errorf("tenant %+v, want display name %q and only label %s=%s", t, name, k, v)
		}
		if t.UpdatedAt.Before(t.CreatedAt) {
			return fmt.Errorf("updated_at %s before created_at %s", t.UpdatedAt, t.CreatedAt)
		}
		return nil
	})
	sc.Step(`^tenant "([^"]*)" has quotas run_create_qps (\d+) and concurrent_runs (\d+)$`, func(alias string, qps, conc int32) error {
		t, err := w.getTenant(alias)
		if err != nil {
			return err
		}
		if t.Quotas.RunCreateQPS.Or(-1) != qps || t.Quotas.ConcurrentRuns.Or(-1) != conc || t.Quotas.InvokeQPS.Set {
			return fmt.Errorf("quotas %+v, want run_create_qps %d, concurrent_runs %d and nothing else", t.Quotas, qps, conc)
		}
		return nil
	})
	sc.Step(`^I delete tenant "([^"]*)"$`, func(alias string) error {
		c, err := w.admin()
		if err != nil {
			return err
		}
		return c.DeleteTenant(context.Background(), orchestratorapi.DeleteTenantParams{TenantID: orchestratorapi.TenantId(w.env.tenantID(alias))})
	})
	sc.Step(`^I delete the default tenant$`, func() error {
		c, err := w.admin()
		if err != nil {
			return err
		}
		w.noteErr(c.DeleteTenant(context.Background(), orchestratorapi.DeleteTenantParams{TenantID: orchestratorapi.TenantId(w.env.defaultTenant)}))
		return nil
	})
	sc.Step(`^getting tenant "([^"]*)" fails with a (\d+) problem with code "([^"]*)"$`, func(alias string, status int, code string) error {
		_, err := w.getTenant(alias)
		w.noteErr(err)
		return w.failedWithProblem(status, code)
	})
	sc.Step(`^deleting tenant "([^"]*)" again fails with a (\d+) problem with code "([^"]*)"$`, func(alias string, status int, code string) error {
		c, err := w.admin()
		if err != nil {
			return err
		}
		w.noteErr(c.DeleteTenant(context.Background(), orchestratorapi.DeleteTenantParams{TenantID: orchestratorapi.TenantId(w.env.tenantID(alias))}))
		return w.failedWithProblem(status, code)
	})
	sc.Step(`^I list every tenant (\d+) at a time$`, func(size int32) error {
		c, err := w.admin()
		if err != nil {
			return err
		}
		w.listing, w.pageSizes = nil, nil
		params := orchestratorapi.ListTenantsParams{Limit: orchestratorapi.NewOptInt32(size)}
		for range 10000 {
			page, err := c.ListTenants(context.Background(), params)
			if err != nil {
				return err
			}
			w.pageSizes = append(w.pageSizes, len(page.Items))
			for _, t := range page.Items {
				w.listing = append(w.listing, string(t.TenantID))
			}
			next, ok := page.NextCursor.Get()
			if !ok {
				return nil
			}
			params.Cursor = orchestratorapi.NewOptString(next)
		}
		return errors.New("listing did not end")
	})
	sc.Step(`^every page had at most (\d+) tenants$`, func(n int) error {
		for i, s := range w.pageSizes {
			if s > n || (s == 0 && i != len(w.pageSizes)-1) {
				return fmt.Errorf("page %d had %d tenants", i, s)
			}
		}
		return nil
	})
	sc.Step(`^the listing holds "([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)" and "([^"]*)" in id order without repeats$`, func(a, b, c, d, e string) error {
		if !sort.StringsAreSorted(w.listing) {
			return fmt.Errorf("listing not in id order: %v", w.listing)
		}
		seen := map[string]bool{}
		for _, id := range w.listing {
			if seen[id] {
				return fmt.Errorf("tenant %s listed twice", id)
			}
			seen[id] = true
		}
		for _, alias := range []string{a, b, c, d, e} {
			if !slices.Contains(w.listing, w.env.tenantID(alias)) {
				return fmt.Errorf("listing lacks %s", w.env.tenantID(alias))
			}
		}
		return nil
	})
}

func (w *world) whoami(baseURL string, c creds) error {
	client, err := w.orch(baseURL, c)
	if err != nil {
		return err
	}
	w.caller, err = client.GetCaller(context.Background())
	w.noteErr(err)
	return nil
}

func (w *world) listTenants(baseURL string, c creds) {
	client, err := w.orch(baseURL, c)
	if err != nil {
		w.noteErr(err)
		return
	}
	page, err := client.ListTenants(context.Background(), orchestratorapi.ListTenantsParams{Limit: orchestratorapi.NewOptInt32(200)})
	w.noteErr(err)
	w.listing = nil
	if page != nil {
		for _, t := range page.Items {
			w.listing = append(w.listing, string(t.TenantID))
		}
	}
}

func (w *world) putTenant(id, name string, labels map[string]string, quotas *orchestratorapi.TenantQuotas) error {
	return w.putTenantAt(w.env.urls["orchestrator"], w.env.adminToken, id, name, labels, quotas)
}

func (w *world) putTenantAt(baseURL, adminToken, id, name string, labels map[string]string, quotas *orchestratorapi.TenantQuotas) error {
	c, err := w.orch(baseURL, creds{admin: adminToken})
	if err != nil {
		return err
	}
	in := &orchestratorapi.TenantInput{}
	if name != "" {
		in.DisplayName = orchestratorapi.NewOptString(name)
	}
	if labels != nil {
		in.Labels = orchestratorapi.NewOptTenantInputLabels(labels)
	}
	if quotas != nil {
		in.Quotas = orchestratorapi.NewOptTenantQuotas(*quotas)
	}
	res, err := c.PutTenant(context.Background(), in, orchestratorapi.PutTenantParams{TenantID: orchestratorapi.TenantId(id)})
	if err != nil {
		return err
	}
	switch r := res.(type) {
	case *orchestratorapi.PutTenantCreated:
		w.created = true
		t := orchestratorapi.Tenant(*r)
		w.tenant = &t
	case *orchestratorapi.PutTenantOK:
		w.created = false
		t := orchestratorapi.Tenant(*r)
		w.tenant = &t
	}
	return nil
}

func (w *world) getTenant(alias string) (*orchestratorapi.Tenant, error) {
	c, err := w.admin()
	if err != nil {
		return nil, err
	}
	return c.GetTenant(context.Background(), orchestratorapi.GetTenantParams{TenantID: orchestratorapi.TenantId(w.env.tenantID(alias))})
}

// failedWithProblem checks the last generated-client call failed with a problem.
func (w *world) failedWithProblem(status int, code string) error {
	if w.problem == nil {
		return fmt.Errorf("want a %d %s problem, got error %v (status %d)", status, code, w.clientErr, w.status)
	}
	if w.problem.Status != status || w.problem.Code != code {
		return fmt.Errorf("problem %+v, want %d %s", *w.problem, status, code)
	}
	if w.problem.RequestID == "" || w.problem.Detail == "" || w.problem.Type == "" {
		return fmt.Errorf("incomplete problem %+v", *w.problem)
	}
	return nil
}
