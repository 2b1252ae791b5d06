package worker_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/worker/mcptest"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// mpBearerCreds sends a bearer token (a JWT) to Model Policy.
type mpBearerCreds struct{ token string }

func (c mpBearerCreds) BearerAuth(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.BearerAuth, error) {
	return modelpolicyapi.BearerAuth{Token: c.token}, nil
}
func (mpBearerCreds) TenantHeader(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.TenantHeader, error) {
	return modelpolicyapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
}
func (mpBearerCreds) AdminToken(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.AdminToken, error) {
	return modelpolicyapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
}

// jwtBundle is a node in jwt auth mode with an embedded worker and a client of a fresh
// tenant, authenticated with a JWT.
type jwtBundle struct {
	n      *testNode
	tenant string
	jwt    string
	c      *orchestratorapi.Client
}

func newJWTNode(t *testing.T, dsn string, mutate func(*config.Config)) *jwtBundle {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "jwt.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	n := newTestNode(t, dsn, func(c *config.Config) {
		c.AuthMode = config.AuthModeJWT
		c.JWTPublicKeyFile = keyFile
		c.JWTIssuer = "https://issuer.test"
		c.JWTAudience = "agentos"
		if mutate != nil {
			mutate(c)
		}
	})
	const tenant = "tnt_jwt_worker"
	admin, err := orchestratorapi.NewClient(n.node.URL(platform.Orchestrator), creds{admin: n.node.AdminToken})
	require.NoError(t, err)
	_, err = admin.PutTenant(context.Background(), &orchestratorapi.TenantInput{}, orchestratorapi.PutTenantParams{TenantID: tenant})
	require.NoError(t, err)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": "https://issuer.test", "aud": "agentos", "sub": "alice", "tenant_id": tenant,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(key)
	require.NoError(t, err)
	c, err := orchestratorapi.NewClient(n.node.URL(platform.Orchestrator), creds{bearer: tok})
	require.NoError(t, err)
	return &jwtBundle{n: n, tenant: tenant, jwt: tok, c: c}
}

// run puts agent with tools, runs it on input and returns the finished run.
func (b *jwtBundle) run(t *testing.T, agent, input string, tools ...orchestratorapi.Tool) *orchestratorapi.Run {
	t.Helper()
	ctx := context.Background()
	_, err := b.c.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: tools}, orchestratorapi.PutAgentParams{AgentID: orchestratorapi.AgentId(agent)})
	require.NoError(t, err)
	res, err := b.c.CreateRun(ctx, &orchestratorapi.RunInput{Input: input}, orchestratorapi.CreateRunParams{AgentID: orchestratorapi.AgentId(agent)})
	require.NoError(t, err)
	run, err := b.c.WaitRun(ctx, orchestratorapi.WaitRunParams{RunID: res.Response.RunID, Timeout: orchestratorapi.NewOptString("30s")})
	require.NoError(t, err)
	return run
}

// In jwt auth mode an embedded worker runs an agent whose builtin model calls a memory
// tool and the calculator: its Model Policy calls (chat, tools:authorize, the memory
// embedding) and its memory calls carry the lease's run token, since X-Tenant-Id is no
// credential in jwt mode. Model Policy's usage and audit attribute them to the run's
// tenant and to the worker, with the run's id.
func TestJWTModeRunsWithRunTokens(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		b := newJWTNode(t, dsn, nil)
		n, c, tenant, tok := b.n, b.c, b.tenant, b.jwt
		ctx := context.Background()
		builtin := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)
		run := b.run(t, "jwt-agent", "/tool memory_put {\"key\": \"answer\", \"value\": \"six times seven\"}\n/tool calculator {\"expression\": \"6 * 7\"}",
			orchestratorapi.Tool{Name: "calculator", Type: builtin}, orchestratorapi.Tool{Name: "memory_put", Type: builtin})
		require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
		require.Equal(t, "The tools returned: stored answer; 42", run.Output.Or(""))

		item, err := c.GetMemory(ctx, orchestratorapi.GetMemoryParams{Namespace: "jwt-agent", Key: "answer"})
		require.NoError(t, err)
		require.Equal(t, "six times seven", item.Value, "memory_put stored in the run's tenant")

		mp, err := modelpolicyapi.NewClient(n.node.URL(platform.ModelPolicy), mpBearerCreds{tok})
		require.NoError(t, err)
		const worker = "worker:embedded-1"
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			u, err := mp.GetUsage(ctx, modelpolicyapi.GetUsageParams{Principal: modelpolicyapi.NewOptString(worker)})
			require.NoError(c, err)
			// two chat steps and the memory item's embedding
			assert.GreaterOrEqual(c, u.Totals.Requests, int64(3))
		}, 10*time.Second, 50*time.Millisecond, "the tenant's usage names the worker")

		type row struct {
			Principal string `bun:"principal"`
			Action    string `bun:"action"`
			Resource  string `bun:"resource"`
			Detail    string `bun:"detail"`
		}
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var rows []row
			require.NoError(c, n.node.DB.NewSelect().Table("audit_records").Column("principal", "action", "resource", "detail").
				Where("tenant_id = ? AND principal = ?", tenant, worker).Scan(ctx, &rows))
			byAction := map[string]int{}
			for _, r := range rows {
				byAction[r.Action+" "+r.Resource]++
				if r.Action == "tool.authorize" || r.Action == "model.chat.completions" {
					assert.Contains(c, r.Detail, string(run.RunID), "%s carries the run id", r.Action)
				}
			}
			assert.Equal(c, 1, byAction["tool.authorize tools/calculator"])
			assert.Equal(c, 1, byAction["tool.authorize tools/memory_put"])
			assert.Equal(c, 2, byAction["model.chat.completions models/builtin-chat"])
		}, 10*time.Second, 50*time.Millisecond, "the tenant's audit names the worker for each call")
	})
}

// A run that outlasts its first run token keeps working: the worker takes the fresh
// token each heartbeat answers. With a 1 s lease, the model call after a 2.5 s tool is
// made long after the lease's first token expired.
func TestJWTModeRefreshesRunTokens(t *testing.T) {
	t.Parallel()
	b := newJWTNode(t, "", func(c *config.Config) { c.LeaseTTL = time.Second })
	srv := mcptest.NewHTTPServer()
	t.Cleanup(srv.Close)
	remote := orchestratorapi.Tool{Name: "remote", Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp),
		Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{Transport: orchestratorapi.McpServerTransportHTTP, URL: orchestratorapi.NewOptString(srv.URL)})}
	start := time.Now()
	run := b.run(t, "slow-agent", `/tool remote__slow {"seconds": 2.5}`, remote)
	require.Equal(t, orchestratorapi.RunStatusCompleted, run.Status, "%+v", run.Error)
	require.Equal(t, "The tool returned: done", run.Output.Or(""))
	require.Greater(t, time.Since(start), 2500*time.Millisecond)
	require.EqualValues(t, 1, run.Attempt, "one lease, kept alive throughout")
}
