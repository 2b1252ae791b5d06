package cli

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/spf13/cobra"

	"github.com/nexixai/agentos/gen/federationapi"
	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// endpoints are the service base URLs and credentials a client command uses.
type endpoints struct {
	orchestrator string
	modelPolicy  string
	federation   string
	tenant       string
	token        string
	adminToken   string
	workerToken  string
	timeout      time.Duration
}

func addEndpointFlags(cmd *cobra.Command, g *globals, e *endpoints) {
	addConnectionFlags(cmd, g, e)
	cmd.Flags().DurationVar(&e.timeout, "timeout", 10*time.Second, "per-request timeout")
}

// addConnectionFlags registers the endpoint flags but --timeout, for a command that gives
// that name another meaning and registers the per-request timeout itself.
func addConnectionFlags(cmd *cobra.Command, g *globals, e *endpoints) {
	f := cmd.Flags()
	f.StringVar(&e.orchestrator, "orchestrator-url", envOr(g.environ, "AGENTOS_ORCHESTRATOR_URL", "http://127.0.0.1:50081"), "orchestrator base URL (AGENTOS_ORCHESTRATOR_URL)")
	f.StringVar(&e.modelPolicy, "modelpolicy-url", envOr(g.environ, "AGENTOS_MODELPOLICY_URL", "http://127.0.0.1:50082"), "model policy base URL (AGENTOS_MODELPOLICY_URL)")
	f.StringVar(&e.federation, "federation-url", envOr(g.environ, "AGENTOS_FEDERATION_URL", "http://127.0.0.1:50083"), "federation base URL (AGENTOS_FEDERATION_URL)")
	f.StringVar(&e.tenant, "tenant", envOr(g.environ, "AGENTOS_TENANT", ""), "tenant for X-Tenant-Id in dev mode (AGENTOS_TENANT; default the configured default tenant)")
	f.StringVar(&e.token, "token", envOr(g.environ, "AGENTOS_TOKEN", ""), "bearer JWT for jwt mode (AGENTOS_TOKEN)")
	f.StringVar(&e.adminToken, "admin-token", "", "admin token (default AGENTOS_ADMIN_TOKEN, else <data-dir>/admin-token)")
}

// resolve fills defaults that depend on the configuration (tenant, admin token file).
func (e *endpoints) resolve(g *globals, cmd *cobra.Command) {
	cfg, err := config.Load(g.configPath, false, g.environ)
	if err != nil {
		cfg = config.Defaults()
	}
	if g.dataDir != "" {
		cfg.DataDir = g.dataDir
	}
	if e.tenant == "" {
		e.tenant = cfg.DefaultTenant
	}
	if e.adminToken == "" {
		e.adminToken = cfg.AdminToken
	}
	if e.adminToken == "" {
		if data, err := os.ReadFile(platform.AdminTokenPath(cfg)); err == nil {
			e.adminToken = strings.TrimSpace(string(data))
		}
	}
	e.workerToken = cfg.WorkerToken
	if e.workerToken == "" {
		if data, err := os.ReadFile(platform.WorkerTokenPath(cfg)); err == nil {
			e.workerToken = strings.TrimSpace(string(data))
		}
	}
}

func (e *endpoints) httpClient() *http.Client { return &http.Client{Timeout: e.timeout} }

// credentials implements the generated SecuritySource interfaces of every service.
type credentials struct{ e *endpoints }

func (c credentials) TenantHeader(context.Context, orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	if c.e.token != "" || c.e.tenant == "" {
		return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.TenantHeader{APIKey: c.e.tenant}, nil
}

func (c credentials) BearerAuth(context.Context, orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	if c.e.token == "" {
		return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.BearerAuth{Token: c.e.token}, nil
}

func (c credentials) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	if c.e.adminToken == "" {
		return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.AdminToken{Token: c.e.adminToken}, nil
}

func (c credentials) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	if c.e.workerToken == "" {
		return orchestratorapi.WorkerToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.WorkerToken{Token: c.e.workerToken}, nil
}

func (e *endpoints) orchestratorClient() (*orchestratorapi.Client, error) {
	return orchestratorapi.NewClient(e.orchestrator, credentials{e}, orchestratorapi.WithClient(e.httpClient()))
}

func (e *endpoints) modelPolicyClient() (*modelpolicyapi.Client, error) {
	return modelpolicyapi.NewClient(e.modelPolicy, mpCredentials{e}, modelpolicyapi.WithClient(e.httpClient()))
}

// mpCredentials implements modelpolicyapi.SecuritySource.
type mpCredentials struct{ e *endpoints }

func (c mpCredentials) TenantHeader(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.TenantHeader, error) {
	if c.e.token != "" || c.e.tenant == "" {
		return modelpolicyapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.TenantHeader{APIKey: c.e.tenant}, nil
}

func (c mpCredentials) BearerAuth(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.BearerAuth, error) {
	if c.e.token == "" {
		return modelpolicyapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.BearerAuth{Token: c.e.token}, nil
}

func (c mpCredentials) AdminToken(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.AdminToken, error) {
	if c.e.adminToken == "" {
		return modelpolicyapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.AdminToken{Token: c.e.adminToken}, nil
}

func (e *endpoints) federationClient() (*federationapi.Client, error) {
	return federationapi.NewClient(e.federation, federationapi.WithClient(e.httpClient()))
}
