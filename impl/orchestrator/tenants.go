package orchestrator

import (
	"context"
	"errors"
	"maps"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/tenancy"
	"github.com/nexixai/agentos/internal/tenant"
)

// ListTenants implements listTenants.
func (s *Service) ListTenants(ctx context.Context, params orchestratorapi.ListTenantsParams) (*orchestratorapi.TenantList, error) {
	ts, next, err := tenant.List(ctx, s.db.DB, int(params.Limit.Or(50)), params.Cursor.Or(""))
	if errors.Is(err, tenant.ErrBadCursor) {
		return nil, apierr.InvalidField("cursor", "not a cursor returned by this operation")
	}
	if err != nil {
		return nil, err
	}
	out := &orchestratorapi.TenantList{Items: make([]orchestratorapi.Tenant, 0, len(ts))}
	for _, t := range ts {
		out.Items = append(out.Items, tenantToAPI(t))
	}
	if next != "" {
		out.NextCursor = orchestratorapi.NewOptString(next)
	}
	return out, nil
}

// GetTenant implements getTenant.
func (s *Service) GetTenant(ctx context.Context, params orchestratorapi.GetTenantParams) (*orchestratorapi.Tenant, error) {
	t, err := tenant.Get(ctx, s.db.DB, string(params.TenantID))
	if errors.Is(err, tenant.ErrNotFound) {
		return nil, apierr.New(apierr.CodeTenantNotFound, "tenant %q not found", params.TenantID)
	}
	if err != nil {
		return nil, err
	}
	out := tenantToAPI(t)
	return &out, nil
}

// PutTenant implements putTenant: create (201) or replace (200), audited in the same
// transaction.
func (s *Service) PutTenant(ctx context.Context, req *orchestratorapi.TenantInput, params orchestratorapi.PutTenantParams) (orchestratorapi.PutTenantRes, error) {
	in := tenant.Tenant{
		ID:          string(params.TenantID),
		DisplayName: req.DisplayName.Or(""),
		Labels:      map[string]string{},
	}
	if req.Labels.Set {
		maps.Copy(in.Labels, req.Labels.Value)
	}
	if q, ok := req.Quotas.Get(); ok {
		in.Quotas = quotasFromAPI(q)
	}
	var (
		saved   tenant.Tenant
		created bool
	)
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		saved, created, err = tenant.Put(ctx, tx, in, s.now())
		if err != nil {
			return err
		}
		action := "tenant.update"
		if created {
			action = "tenant.create"
		}
		return s.audit.Enqueue(ctx, tx, s.auditRecord(ctx, saved.ID, action, "tenants/"+saved.ID, nil))
	})
	if err != nil {
		return nil, err
	}
	s.audit.Kick()
	s.tenants.Invalidate(saved.ID)
	s.quotas.invalidate(saved.ID)
	out := tenantToAPI(saved)
	if created {
		res := orchestratorapi.PutTenantCreated(out)
		return &res, nil
	}
	res := orchestratorapi.PutTenantOK(out)
	return &res, nil
}

// DeleteTenant implements deleteTenant. The default tenant cannot be deleted.
func (s *Service) DeleteTenant(ctx context.Context, params orchestratorapi.DeleteTenantParams) error {
	id := string(params.TenantID)
	if id == s.cfg.DefaultTenant {
		return apierr.New(apierr.CodeConflict, "tenant %q is the default tenant (AGENTOS_DEFAULT_TENANT) and cannot be deleted", params.TenantID)
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := tenant.Delete(ctx, tx, id); err != nil {
			return err
		}
		return s.audit.Enqueue(ctx, tx, s.auditRecord(ctx, id, "tenant.delete", "tenants/"+id, nil))
	})
	if errors.Is(err, tenant.ErrNotFound) {
		return apierr.New(apierr.CodeTenantNotFound, "tenant %q not found", params.TenantID)
	}
	if err != nil {
		return err
	}
	s.audit.Kick()
	s.tenants.Invalidate(id)
	return nil
}

// auditRecord describes a successful mutation by the caller of ctx.
func (s *Service) auditRecord(ctx context.Context, tenantID, action, resource string, detail map[string]any) audit.Record {
	p, _ := tenancy.FromContext(ctx)
	return audit.Record{
		TenantID:  tenantID,
		Time:      s.now(),
		Principal: p.PrincipalID,
		Action:    action,
		Resource:  resource,
		Outcome:   audit.OutcomeSuccess,
		RequestID: httpserver.RequestID(ctx),
		Detail:    detail,
	}
}

func tenantToAPI(t tenant.Tenant) orchestratorapi.Tenant {
	labels := orchestratorapi.TenantLabels{}
	maps.Copy(labels, t.Labels)
	return orchestratorapi.Tenant{
		TenantID:    orchestratorapi.TenantId(t.ID),
		DisplayName: t.DisplayName,
		Quotas:      quotasToAPI(t.Quotas),
		Labels:      labels,
		CreatedAt:   t.CreatedAt.UTC(),
		UpdatedAt:   t.UpdatedAt.UTC(),
	}
}

func quotasToAPI(q tenant.Quotas) orchestratorapi.TenantQuotas {
	var out orchestratorapi.TenantQuotas
	if q.RunCreateQPS != nil {
		out.RunCreateQPS = orchestratorapi.NewOptInt32(*q.RunCreateQPS)
	}
	if q.ConcurrentRuns != nil {
		out.ConcurrentRuns = orchestratorapi.NewOptInt32(*q.ConcurrentRuns)
	}
	if q.InvokeQPS != nil {
		out.InvokeQPS = orchestratorapi.NewOptInt32(*q.InvokeQPS)
	}
	if q.TokensPerMinute != nil {
		out.TokensPerMinute = orchestratorapi.NewOptInt64(*q.TokensPerMinute)
	}
	return out
}

func quotasFromAPI(q orchestratorapi.TenantQuotas) tenant.Quotas {
	var out tenant.Quotas
	if v, ok := q.RunCreateQPS.Get(); ok {
		out.RunCreateQPS = &v
	}
	if v, ok := q.ConcurrentRuns.Get(); ok {
		out.ConcurrentRuns = &v
	}
	if v, ok := q.InvokeQPS.Get(); ok {
		out.InvokeQPS = &v
	}
	if v, ok := q.TokensPerMinute.Get(); ok {
		out.TokensPerMinute = &v
	}
	return out
}
