package modelpolicy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nexixai/agentos/impl/modelpolicy"
	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/tenancy"
	"github.com/nexixai/agentos/internal/tenant"
)

// Environment of a child gateway process (see startGatewayProcess).
const (
	envChild     = "AGENTOS_TEST_GATEWAY_CHILD"
	envChildDB   = "AGENTOS_TEST_GATEWAY_DB"
	envChildProv = "AGENTOS_TEST_GATEWAY_PROVIDERS"
)

// TestMain fails the package when a test leaves a goroutine behind: streams, relays,
// retries, timers, the policy watcher and the batched writers must all end. Run with
// AGENTOS_TEST_GATEWAY_CHILD set, the test binary is a gateway process instead.
func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		if err := runGatewayProcess(); err != nil {
			fmt.Fprintln(os.Stderr, "gateway process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// dbtest keeps one process-wide pool for creating and dropping PostgreSQL schemas.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// gatewayOptions configure newGateway.
type gatewayOptions struct {
	providersFile, policyDir string
	qps, tpm                 int64
	admin                    string
	logger                   *slog.Logger
}

// newGateway builds a Model Policy service on d in dev auth mode and its handler.
func newGateway(ctx context.Context, d *db.DB, o gatewayOptions) (*modelpolicy.Service, http.Handler, *http.Transport, error) {
	tenants := tenant.NewCache(d.DB, time.Second)
	auth, err := tenancy.NewAuthenticator(config.AuthModeDev, o.admin, "agentos:admin", nil, tenants)
	if err != nil {
		return nil, nil, nil, err
	}
	m := httpserver.NewMetrics(modelpolicy.ServiceName)
	tr := provider.NewTransport()
	svc, err := modelpolicy.New(ctx, modelpolicy.Config{
		Version: "test", MaxBodyBytes: 1 << 20, ProvidersFile: o.providersFile, PolicyDir: o.policyDir,
		QuotaInvokeQPS: o.qps, QuotaTokensPerMinute: o.tpm, Metrics: m, Transport: tr,
	}, d, audit.New(d, nil, o.logger), auth, tenants, o.logger)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := svc.Handler(m, nil)
	if err != nil {
		svc.Close()
		return nil, nil, nil, err
	}
	return svc, h, tr, nil
}

// runGatewayProcess serves one gateway on 127.0.0.1:0, prints "LISTEN <url>", and
// serves until its stdin closes.
func runGatewayProcess() error {
	ctx := context.Background()
	d, err := db.Open(ctx, os.Getenv(envChildDB), "")
	if err != nil {
		return err
	}
	defer d.Close()
	svc, h, _, err := newGateway(ctx, d, gatewayOptions{providersFile: os.Getenv(envChildProv), admin: "adm_child_token_0123456789", logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer svc.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("LISTEN http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// startGatewayProcess runs this test binary as a separate gateway process on the
// database at dbURL and returns its base URL; it stops when the test ends.
func startGatewayProcess(t *testing.T, dbURL, providersFile string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envChildDB+"="+dbURL, envChildProv+"="+providersFile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "LISTEN "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return u
		}
	}
	t.Fatalf("gateway process did not start: %v", lines.Err())
	return ""
}
