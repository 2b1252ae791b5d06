package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
)

// platform is `agentos serve --workers 0` (every service in one process) plus worker
// processes (`agentos worker`), each its own child process.
type platform struct {
	server  *exec.Cmd
	workers []*exec.Cmd
	orch    string
	mp      string
	dir     string
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startPlatform(o options, extraEnv ...string) (*platform, error) {
	var addrs [3]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	dir, err := os.MkdirTemp("", "agentos-load")
	if err != nil {
		return nil, err
	}
	p := &platform{orch: "http://" + addrs[0], mp: "http://" + addrs[1], dir: dir}
	p.server = exec.Command(o.bin, "serve", "--workers", "0", "--no-demo-agent", "--data-dir", dir,
		"--orchestrator-addr", addrs[0], "--modelpolicy-addr", addrs[1], "--federation-addr", addrs[2])
	p.server.Env = append(append(os.Environ(),
		"AGENTOS_ADMIN_TOKEN="+adminToken, "AGENTOS_WORKER_TOKEN="+workerToken,
		"AGENTOS_QUOTA_RUN_CREATE_QPS=0", "AGENTOS_QUOTA_CONCURRENT_RUNS=0",
		"AGENTOS_QUOTA_INVOKE_QPS=0", "AGENTOS_QUOTA_TOKENS_PER_MINUTE=0",
		"AGENTOS_AUDIT_SINK=none", "AGENTOS_LOG_LEVEL=warn", "AGENTOS_DATABASE_URL="+o.db), extraEnv...)
	p.server.Stderr = os.Stderr
	if err := p.server.Start(); err != nil {
		return nil, err
	}
	for _, u := range []string{p.orch, p.mp} {
		if err := waitReady(u); err != nil {
			p.stop()
			return nil, err
		}
	}
	return p, nil
}

func waitReady(base string) error {
	for range 600 {
		if resp, err := http.Get(base + "/v1/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not become ready", base)
}

func (p *platform) startWorker(o options, concurrency int) error {
	cmd := exec.Command(o.bin, "worker", "--concurrency", strconv.Itoa(concurrency),
		"--orchestrator-url", p.orch, "--modelpolicy-url", p.mp)
	cmd.Env = append(os.Environ(), "AGENTOS_WORKER_TOKEN="+workerToken, "AGENTOS_LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p.workers = append(p.workers, cmd)
	return nil
}

func (p *platform) stop() {
	for _, c := range p.workers { // workers first, while the services still answer them
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range p.workers {
		_ = c.Wait()
	}
	_ = p.server.Process.Signal(syscall.SIGTERM)
	_ = p.server.Wait()
	_ = os.RemoveAll(p.dir)
}

// procStatus reads a field of /proc/<pid>/status in MiB (VmRSS, VmHWM).
func procStatus(pid int, field string) float64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func (p *platform) clients(hc *http.Client) (tc *orchestratorapi.Client, err error) {
	ac, err := orchestratorapi.NewClient(p.orch, creds{admin: adminToken}, orchestratorapi.WithClient(hc))
	if err != nil {
		return nil, err
	}
	if _, err := ac.PutTenant(context.Background(), &orchestratorapi.TenantInput{}, orchestratorapi.PutTenantParams{TenantID: tenant}); err != nil {
		return nil, err
	}
	return orchestratorapi.NewClient(p.orch, creds{tenant: tenant}, orchestratorapi.WithClient(hc))
}

// agents: the whole platform end to end. Clients each create a run of an agent whose
// builtin model calls the calculator once, then wait for it to complete, in a closed
// loop; worker processes execute the runs through Model Policy. Latency is creation to
// completion as a client sees it.
func agents(o options) error {
	p, err := startPlatform(o)
	if err != nil {
		return err
	}
	defer p.stop()
	for range o.workerProcs {
		if err := p.startWorker(o, o.concurrency); err != nil {
			return err
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}, Timeout: 60 * time.Second}
	tc, err := p.clients(hc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	builtin := orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeBuiltin)
	if _, err := tc.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin-chat",
		Tools: []orchestratorapi.Tool{{Name: "calculator", Type: builtin}}}, orchestratorapi.PutAgentParams{AgentID: "calc"}); err != nil {
		return err
	}
	oneRun := func(rec *recorder) bool {
		t0 := time.Now()
		params := orchestratorapi.CreateRunParams{AgentID: "calc"}
		if o.createWait {
			params.Wait = orchestratorapi.NewOptString("30s")
		}
		res, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: `/tool calculator {"expression": "6 * 7"}`}, params)
		if err != nil {
			rec.fail("create run", err)
			return false
		}
		run := &res.Response
		if !o.createWait || !terminal(run.Status) {
			if run, err = tc.WaitRun(ctx, orchestratorapi.WaitRunParams{RunID: run.RunID, Timeout: orchestratorapi.NewOptString("60s")}); err != nil {
				rec.fail("wait run", err)
				return false
			}
		}
		if run.Status != orchestratorapi.RunStatusCompleted || run.Output.Or("") != "The tool returned: 42" {
			rec.fail("run", fmt.Errorf("%s: status %s, output %q, error %+v", run.RunID, run.Status, run.Output.Or(""), run.Error))
			return false
		}
		rec.add(time.Since(t0))
		return true
	}
	// Warm up: connections, prepared policy, the workers' first leases.
	var warm recorder
	for range 20 {
		oneRun(&warm)
	}
	var rec recorder
	var done atomic.Int64
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if oneRun(&rec) {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var rss []string
	for _, w := range p.workers {
		rss = append(rss, fmt.Sprintf("%.0f", procStatus(w.Process.Pid, "VmHWM")))
	}
	backend := "sqlite"
	if o.db != "" {
		backend = "postgres"
	}
	fmt.Printf("scenario=agents backend=%s create_wait=%t worker_procs=%d worker_concurrency=%d clients=%d duration=%s completed=%d errors=%d throughput=%.0f runs/s create_to_complete_p50=%s p99=%s server_peak_rss=%.0f MiB worker_peak_rss=[%s] MiB\n",
		backend, o.createWait, o.workerProcs, o.concurrency, o.clients, elapsed.Round(time.Millisecond), done.Load(), rec.errs.Load(),
		float64(done.Load())/elapsed.Seconds(), ms(rec.pct(0.5)), ms(rec.pct(0.99)), procStatus(p.server.Process.Pid, "VmHWM"), strings.Join(rss, " "))
	return nil
}

// workerMemory measures what concurrent runs cost a worker process: one worker with
// room for o.concurrency runs, a model (the test upstream behind Model Policy) that
// streams slowly enough that every run is mid-stream at once, and the worker's RSS idle
// versus with all runs in flight.
func workerMemory(o options) error {
	upstream := upstreamtest.New(upstreamtest.Behavior{Words: 400, ChunkDelay: 50 * time.Millisecond}, false)
	defer upstream.Close()
	providers := filepath.Join(os.TempDir(), fmt.Sprintf("agentos-load-providers-%d.yaml", os.Getpid()))
	if err := os.WriteFile(providers, []byte("providers:\n  - name: slow\n    type: openai\n    base_url: "+upstream.BaseURL()+
		"\nmodels:\n  - name: slow-chat\n    type: chat\n    deployments: [{provider: slow}]\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(providers)
	p, err := startPlatform(o, "AGENTOS_MODEL_PROVIDERS_FILE="+providers)
	if err != nil {
		return err
	}
	defer p.stop()
	if err := p.startWorker(o, o.concurrency); err != nil {
		return err
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	tc, err := p.clients(hc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := tc.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "slow-chat"}, orchestratorapi.PutAgentParams{AgentID: "slow"}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the worker connected and is long-polling
	pid := p.workers[0].Process.Pid
	idle := procStatus(pid, "VmRSS")
	ids := make([]orchestratorapi.RunId, o.concurrency)
	for i := range ids {
		res, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: "talk"}, orchestratorapi.CreateRunParams{AgentID: "slow"})
		if err != nil {
			return err
		}
		ids[i] = res.Response.RunID
	}
	// Every run streaming: wait until each has a model.delta.
	for _, id := range ids {
		for {
			page, err := tc.GetRunEvents(ctx, orchestratorapi.GetRunEventsParams{RunID: id, Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON)})
			if err != nil {
				return err
			}
			streaming := false
			for _, e := range page.(*orchestratorapi.RunEventPage).Events {
				streaming = streaming || e.Type == "model.delta"
			}
			if streaming {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(time.Second)
	loaded := procStatus(pid, "VmRSS")
	fmt.Printf("scenario=worker-memory concurrent_runs=%d worker_rss_idle=%.1f MiB worker_rss_loaded=%.1f MiB per_100_runs=%.1f MiB worker_peak_rss=%.1f MiB\n",
		o.concurrency, idle, loaded, (loaded-idle)*100/float64(o.concurrency), procStatus(pid, "VmHWM"))
	for _, id := range ids {
		_, _ = tc.CancelRun(ctx, orchestratorapi.CancelRunParams{RunID: id})
	}
	return nil
}

func terminal(s orchestratorapi.RunStatus) bool {
	switch s {
	case orchestratorapi.RunStatusCompleted, orchestratorapi.RunStatusFailed, orchestratorapi.RunStatusCancelled, orchestratorapi.RunStatusTimedOut:
		return true
	}
	return false
}
