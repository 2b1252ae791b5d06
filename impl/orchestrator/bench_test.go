package orchestrator_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/orchestrator"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/tenancy"
	"github.com/nexixai/agentos/internal/tenant"
)

type benchBundle struct {
	svc  *orchestrator.Service
	auth *tenancy.Authenticator
}

func setupBench(b *testing.B) benchBundle {
	b.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := tenant.EnsureDefault(ctx, d.DB, "tnt_demo", time.Now()); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	cache := tenant.NewCache(d.DB, time.Minute)
	auth, err := tenancy.NewAuthenticator("dev", "bench-admin-token-000", "agentos:admin", nil, cache)
	if err != nil {
		b.Fatal(err)
	}
	svc := orchestrator.New(orchestrator.Config{Version: "bench", DefaultTenant: "tnt_demo", MaxBodyBytes: 1 << 20},
		d, audit.New(d, nil, logger), auth, cache, logger)
	return benchBundle{svc: svc, auth: auth}
}

// bareSecurity is the minimum a generated server needs to run getCaller: the tenant
// header checked against the same cache, with none of the shared middleware.
type bareSecurity struct{ auth *tenancy.Authenticator }

func (s bareSecurity) HandleTenantHeader(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.TenantHeader) (context.Context, error) {
	return s.auth.TenantHeader(ctx, t.APIKey)
}

func (s bareSecurity) HandleBearerAuth(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.BearerAuth) (context.Context, error) {
	return s.auth.Bearer(ctx, t.Token)
}

func (s bareSecurity) HandleAdminToken(ctx context.Context, _ orchestratorapi.OperationName, t orchestratorapi.AdminToken) (context.Context, error) {
	return s.auth.Admin(ctx, t.Token)
}

func (s bareSecurity) HandleWorkerToken(ctx context.Context, _ orchestratorapi.OperationName, _ orchestratorapi.WorkerToken) (context.Context, error) {
	return ctx, nil
}

func run(b *testing.B, h http.Handler, path string, header http.Header, want int) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header = header
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkHealth compares the bare generated server with the full middleware chain
// (request id, panic recovery, body limit, metrics, access log, problem errors).
func BenchmarkHealth(b *testing.B) {
	bb := setupBench(b)
	bare, err := orchestratorapi.NewServer(bb.svc, bareSecurity{bb.auth})
	if err != nil {
		b.Fatal(err)
	}
	chain, err := bb.svc.Handler(httpserver.NewMetrics("orchestrator"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("bare", func(b *testing.B) { run(b, bare, "/v1/health", http.Header{}, http.StatusOK) })
	b.Run("chain", func(b *testing.B) { run(b, chain, "/v1/health", http.Header{}, http.StatusOK) })
}

// BenchmarkWhoami adds tenancy: X-Tenant-Id resolved through the tenant cache.
func BenchmarkWhoami(b *testing.B) {
	bb := setupBench(b)
	bare, err := orchestratorapi.NewServer(bb.svc, bareSecurity{bb.auth})
	if err != nil {
		b.Fatal(err)
	}
	chain, err := bb.svc.Handler(httpserver.NewMetrics("orchestrator"), nil)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{"X-Tenant-Id": {"tnt_demo"}}
	b.Run("bare", func(b *testing.B) { run(b, bare, "/v1/whoami", h, http.StatusOK) })
	b.Run("chain", func(b *testing.B) { run(b, chain, "/v1/whoami", h, http.StatusOK) })
}

// BenchmarkProblem measures an error path through the chain: an unknown tenant is a 404
// problem (cached negative lookup).
func BenchmarkProblem(b *testing.B) {
	bb := setupBench(b)
	chain, err := bb.svc.Handler(httpserver.NewMetrics("orchestrator"), nil)
	if err != nil {
		b.Fatal(err)
	}
	run(b, chain, "/v1/whoami", http.Header{"X-Tenant-Id": {"tnt_missing"}}, http.StatusNotFound)
}
