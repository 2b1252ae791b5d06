package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-faster/jx"
	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/tenancy"
)

// UseModelPolicy points memory embeddings at a Model Policy service (through its
// generated client, on behalf of the caller).
func (s *Service) UseModelPolicy(baseURL string) error {
	c, err := modelpolicyapi.NewClient(baseURL, callerCreds{}, modelpolicyapi.WithClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return err
	}
	s.modelPolicy = c
	return nil
}

// callerCreds forwards the caller's identity: its JWT in jwt mode, else its tenant.
type callerCreds struct{}

func (callerCreds) TenantHeader(ctx context.Context, _ modelpolicyapi.OperationName) (modelpolicyapi.TenantHeader, error) {
	p, _ := tenancy.FromContext(ctx)
	if p.Token != "" || p.TenantID == "" {
		return modelpolicyapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.TenantHeader{APIKey: p.TenantID}, nil
}

func (callerCreds) BearerAuth(ctx context.Context, _ modelpolicyapi.OperationName) (modelpolicyapi.BearerAuth, error) {
	p, _ := tenancy.FromContext(ctx)
	if p.Token == "" {
		return modelpolicyapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.BearerAuth{Token: p.Token}, nil
}

func (callerCreds) AdminToken(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.AdminToken, error) {
	return modelpolicyapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
}

// embed asks Model Policy for the embedding of text.
func (s *Service) embed(ctx context.Context, text string) ([]float64, error) {
	if s.modelPolicy == nil {
		return nil, apierr.New(apierr.CodeUnavailable, "memory needs Model Policy for embeddings, and none is configured")
	}
	input, _ := json.Marshal(text)
	res, err := s.modelPolicy.CreateEmbedding(ctx, &modelpolicyapi.EmbeddingRequest{Model: s.cfg.EmbeddingModel, Input: jx.Raw(input)})
	if err != nil {
		var p *modelpolicyapi.ProblemStatusCode
		if errors.As(err, &p) {
			return nil, &apierr.Error{Code: relayedCode(p.Response.Code, p.StatusCode), Message: "embedding: " + p.Response.Detail.Or(p.Response.Title)}
		}
		return nil, apierr.Wrap(err, apierr.CodeUpstreamError, "embedding request failed")
	}
	raw, ok := res.(*modelpolicyapi.CreateEmbeddingOKRawApplicationJSON)
	if !ok || raw.Response == nil {
		return nil, apierr.New(apierr.CodeUpstreamError, "embedding: unexpected answer %T", res)
	}
	defer raw.Response.Body.Close()
	body, err := io.ReadAll(io.LimitReader(raw.Response.Body, 8<<20))
	if err != nil {
		return nil, apierr.Wrap(err, apierr.CodeUpstreamError, "embedding: read answer")
	}
	var out struct {
		Data []struct {
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Data) == 0 {
		return nil, apierr.New(apierr.CodeUpstreamError, "embedding: malformed answer")
	}
	return out.Data[0].Embedding, nil
}

// PutMemory implements putMemory.
func (s *Service) PutMemory(ctx context.Context, req *orchestratorapi.MemoryInput, params orchestratorapi.PutMemoryParams) (*orchestratorapi.MemoryItem, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	vec, err := s.embed(ctx, req.Value)
	if err != nil {
		return nil, err
	}
	emb, err := json.Marshal(vec)
	if err != nil {
		return nil, err
	}
	now := s.now()
	item := &store.MemoryItem{TenantID: p.TenantID, Namespace: params.Namespace, Key: params.Key, Value: req.Value, Embedding: string(emb)}
	if ttl, ok := req.TTLSeconds.Get(); ok {
		exp := now.Add(time.Duration(ttl) * time.Second)
		item.ExpiresAt = &exp
	}
	if err := store.PutMemory(ctx, s.db.DB, item, now); err != nil {
		return nil, err
	}
	return memoryToAPI(item), nil
}

// GetMemory implements getMemory.
func (s *Service) GetMemory(ctx context.Context, params orchestratorapi.GetMemoryParams) (*orchestratorapi.MemoryItem, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	item, err := store.GetMemory(ctx, s.db.DB, p.TenantID, params.Namespace, params.Key, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.NotFound("memory item", params.Namespace+"/"+params.Key)
	}
	if err != nil {
		return nil, err
	}
	return memoryToAPI(item), nil
}

// DeleteMemory implements deleteMemory.
func (s *Service) DeleteMemory(ctx context.Context, params orchestratorapi.DeleteMemoryParams) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	err = store.DeleteMemory(ctx, s.db.DB, p.TenantID, params.Namespace, params.Key)
	if errors.Is(err, store.ErrNotFound) {
		return apierr.NotFound("memory item", params.Namespace+"/"+params.Key)
	}
	return err
}

// SearchMemory implements searchMemory.
func (s *Service) SearchMemory(ctx context.Context, req *orchestratorapi.MemorySearchInput, params orchestratorapi.SearchMemoryParams) (*orchestratorapi.MemorySearchResult, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	vec, err := s.embed(ctx, req.Query)
	if err != nil {
		return nil, err
	}
	matches, err := store.SearchMemory(ctx, s.db.DB, p.TenantID, params.Namespace, vec, int(req.TopK.Or(5)), s.now())
	if err != nil {
		return nil, err
	}
	out := &orchestratorapi.MemorySearchResult{Items: make([]orchestratorapi.MemoryMatch, 0, len(matches))}
	for _, m := range matches {
		out.Items = append(out.Items, orchestratorapi.MemoryMatch{Key: m.Key, Value: m.Value, Score: m.Score})
	}
	return out, nil
}

func memoryToAPI(m *store.MemoryItem) *orchestratorapi.MemoryItem {
	out := &orchestratorapi.MemoryItem{Namespace: m.Namespace, Key: m.Key, Value: m.Value, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if m.ExpiresAt != nil {
		out.ExpiresAt = orchestratorapi.NewOptDateTime(*m.ExpiresAt)
	}
	return out
}

// relayedCode keeps Model Policy's code when it means the same status here; otherwise it
// picks this service's code for that status, so a refusal over there (a policy deny, a
// quota) is never turned into a 500 by a code this service does not know, and its own
// failures are an upstream error here.
func relayedCode(code string, status int) apierr.Code {
	if c := apierr.Code(code); status < 500 && c.Status() == status {
		return c
	}
	switch status {
	case http.StatusBadRequest:
		return apierr.CodeInvalidArgument
	case http.StatusUnauthorized:
		return apierr.CodeUnauthenticated
	case http.StatusForbidden:
		return apierr.CodePermissionDenied
	case http.StatusNotFound:
		return apierr.CodeNotFound
	case http.StatusTooManyRequests:
		return apierr.CodeRateLimited
	}
	return apierr.CodeUpstreamError
}
