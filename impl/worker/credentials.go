package worker

import (
	"context"
	"net/http"
)

// Calls made for a run's tenant (Model Policy chat and tools:authorize, the memory API)
// carry the run token of its lease as a bearer credential: the orchestrator mints it
// with the lease and every heartbeat answers a fresh one, so it works in every auth mode.
// A lease without one (an orchestrator that does not mint them) falls back to
// X-Tenant-Id, which only the dev auth mode accepts.

// runCred is the credential of a call made for a run: its token, else its tenant.
type runCred struct {
	tenant string
	token  string
}

type credKey struct{}

// cred returns the run's current credential.
func (rs *runState) cred() runCred {
	c := runCred{tenant: string(rs.lr.Run.TenantID)}
	if t := rs.token.Load(); t != nil {
		c.token = *t
	}
	return c
}

// setToken keeps the latest run token ("" keeps the one held).
func (rs *runState) setToken(tok string) {
	if tok != "" {
		rs.token.Store(&tok)
	}
}

// withCred returns ctx carrying the run's current credential, for the generated clients.
func (rs *runState) withCred(ctx context.Context) context.Context {
	return context.WithValue(ctx, credKey{}, rs.cred())
}

func credOf(ctx context.Context) runCred {
	c, _ := ctx.Value(credKey{}).(runCred)
	return c
}

// setHeader puts the credential on a hand-made request.
func (c runCred) setHeader(h http.Header) {
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
		return
	}
	h.Set("X-Tenant-Id", c.tenant)
}
