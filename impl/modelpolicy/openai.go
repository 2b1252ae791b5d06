package modelpolicy

import (
	"context"
	"errors"
	"net/http"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/internal/tenancy"
)

// CreateEmbedding implements createEmbedding.
func (s *Service) CreateEmbedding(ctx context.Context, req *modelpolicyapi.EmbeddingRequest, w http.ResponseWriter) error {
	body := rawBody(ctx)
	est := provider.EstimateTokens(len(req.Input))
	c, err := s.begin(ctx, opEmbeddings, req.Model, provider.TypeEmbedding, ask{estimated: est},
		func(policyeval.Decision) int64 { return est })
	if err != nil {
		return err
	}
	resp, served, err := s.router.Do(ctx, provider.Call{Op: provider.OpEmbeddings, Model: req.Model, Body: body, Permit: c.permit})
	if err != nil {
		return c.fail(ctx, err)
	}
	u, estimated := resp.Usage, false
	if !u.Present {
		u, estimated = provider.Usage{PromptTokens: est}, true
	}
	writeJSON(w, resp.Body)
	resp.Release() // written: the answer's buffer goes back to the pool
	c.finish(ctx, served, u, estimated, audit.OutcomeSuccess)
	return nil
}

// ListModels implements listModels: the configured models the policy lets the caller
// use (each decided as operation models.list).
func (s *Service) ListModels(ctx context.Context) (*modelpolicyapi.ModelList, error) {
	p, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errors.New("no principal on an authenticated operation")
	}
	info, err := s.info.get(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	out := &modelpolicyapi.ModelList{Object: modelpolicyapi.ModelListObjectList, Data: []modelpolicyapi.Model{}}
	revision := ""
	allowed := []any{}
	for _, m := range s.router.Models() {
		d, err := s.decide(ctx, policyeval.Input{
			Tenant:    policyeval.TenantInput{ID: p.TenantID, Known: info.known, Labels: info.labels},
			Principal: policyeval.PrincipalInput{ID: p.PrincipalID, Roles: p.Roles, Auth: p.AuthMode},
			Operation: opModels,
			Model:     m.Name,
		})
		if err != nil {
			return nil, err
		}
		revision = d.Revision
		if !d.Allow {
			continue
		}
		allowed = append(allowed, m.Name)
		out.Data = append(out.Data, modelpolicyapi.Model{
			ID: m.Name, Object: modelpolicyapi.ModelObjectModel, Created: s.started.Unix(), OwnedBy: m.OwnedBy,
		})
	}
	// One record for the listing's decisions.
	s.batch.Add(ctx, audit.Record{
		TenantID: p.TenantID, Time: s.now(), Principal: p.PrincipalID, Action: "model." + opModels, Resource: "models",
		Outcome: audit.OutcomeSuccess, RequestID: httpserver.RequestID(ctx),
		Detail: map[string]any{"policy_revision": revision, "allowed": allowed},
	})
	return out, nil
}
