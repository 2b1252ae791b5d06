// Command loadtest measures the orchestrator over HTTP: run creation, the full run
// lifecycle with test workers, and SSE fan-out. It starts `agentos serve orchestrator` as
// a child process (so the server's peak RSS is its own), drives it through the generated
// client, and prints throughput, latency percentiles and the server's peak RSS.
//
// The agents and worker-memory scenarios measure the whole platform instead: `agentos
// serve --workers 0` and real `agentos worker` processes executing agent loops through
// Model Policy.
//
//	go run ./tools/loadtest -bin bin/agentos -scenario create -clients 64 -duration 10s -db postgres://…
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

type options struct {
	bin         string
	scenario    string
	clients     int
	workers     int
	duration    time.Duration
	db          string
	subscribers int
	events      int
	concurrency int
	batch       bool
	createWait  bool
	workerProcs int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/agentos", "agentos binary")
	flag.StringVar(&o.scenario, "scenario", "create", "create | lifecycle | fanout | agents | worker-memory")
	flag.IntVar(&o.clients, "clients", 64, "concurrent clients creating runs")
	flag.IntVar(&o.workers, "workers", 8, "workers (lifecycle)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measurement time")
	flag.StringVar(&o.db, "db", "", "PostgreSQL URL; empty means SQLite")
	flag.IntVar(&o.subscribers, "subscribers", 1000, "SSE subscribers (fanout)")
	flag.IntVar(&o.events, "events", 200, "events appended (fanout)")
	flag.IntVar(&o.concurrency, "worker-concurrency", 16, "runs each worker executes at once (lifecycle)")
	flag.BoolVar(&o.batch, "batch-events", true, "post a run's 3 events as one batch (false: 3 requests) (lifecycle)")
	flag.BoolVar(&o.createWait, "create-wait", true, "create each run with ?wait=30s, one request (false: create, then :wait) (agents)")
	flag.IntVar(&o.workerProcs, "worker-procs", 4, "agentos worker processes (agents)")
	flag.Parse()
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

type creds struct{ tenant, admin, worker string }

func (c creds) TenantHeader(context.Context, orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	if c.tenant == "" {
		return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.TenantHeader{APIKey: c.tenant}, nil
}
func (c creds) BearerAuth(context.Context, orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
}
func (c creds) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	if c.admin == "" {
		return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.AdminToken{Token: c.admin}, nil
}
func (c creds) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	if c.worker == "" {
		return orchestratorapi.WorkerToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return orchestratorapi.WorkerToken{Token: c.worker}, nil
}

const (
	adminToken  = "load-admin-token-0123456789"
	workerToken = "load-worker-token-0123456789"
	tenant      = "tnt_load"
)

type server struct {
	cmd  *exec.Cmd
	base string
}

func startServer(o options) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, err := os.MkdirTemp("", "agentos-load")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.bin, "serve", "orchestrator", "--orchestrator-addr", addr, "--data-dir", dir)
	cmd.Env = append(os.Environ(),
		"AGENTOS_ADMIN_TOKEN="+adminToken, "AGENTOS_WORKER_TOKEN="+workerToken,
		"AGENTOS_QUOTA_RUN_CREATE_QPS=0", "AGENTOS_QUOTA_CONCURRENT_RUNS=0",
		"AGENTOS_AUDIT_SINK=none", "AGENTOS_LOG_LEVEL=warn", "AGENTOS_DATABASE_URL="+o.db)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	for range 300 {
		if resp, err := http.Get(s.base + "/v1/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("server did not start")
}

// peakRSS reads the server's peak resident set (VmHWM) in MiB.
func (s *server) peakRSS() float64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(s.cmd.Process.Pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func run(o options) error {
	switch o.scenario {
	case "agents":
		return agents(o)
	case "worker-memory":
		return workerMemory(o)
	}
	srv, err := startServer(o)
	if err != nil {
		return err
	}
	defer srv.stop()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}, Timeout: 60 * time.Second}
	ctx := context.Background()
	ac, _ := orchestratorapi.NewClient(srv.base, creds{admin: adminToken}, orchestratorapi.WithClient(hc))
	if _, err := ac.PutTenant(ctx, &orchestratorapi.TenantInput{}, orchestratorapi.PutTenantParams{TenantID: tenant}); err != nil {
		return err
	}
	tc, _ := orchestratorapi.NewClient(srv.base, creds{tenant: tenant}, orchestratorapi.WithClient(hc))
	wc, _ := orchestratorapi.NewClient(srv.base, creds{worker: workerToken}, orchestratorapi.WithClient(hc))
	if _, err := tc.PutAgent(ctx, &orchestratorapi.AgentInput{Model: "builtin"}, orchestratorapi.PutAgentParams{AgentID: "load"}); err != nil {
		return err
	}
	backend := "sqlite"
	if o.db != "" {
		backend = "postgres"
	}
	switch o.scenario {
	case "create":
		return create(ctx, o, srv, tc, backend)
	case "lifecycle":
		return lifecycle(ctx, o, srv, tc, wc, backend)
	case "fanout":
		return fanout(ctx, o, srv, tc, wc, backend, hc)
	}
	return fmt.Errorf("unknown scenario %q", o.scenario)
}

type recorder struct {
	mu   sync.Mutex
	lats []time.Duration
	errs atomic.Int64
}

// fail counts an error and prints the first few.
func (r *recorder) fail(what string, err error) {
	if n := r.errs.Add(1); n <= 3 {
		log.Printf("%s: %v", what, err)
	}
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.lats = append(r.lats, d)
	r.mu.Unlock()
}

func (r *recorder) pct(p float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lats) == 0 {
		return 0
	}
	slices.Sort(r.lats)
	return r.lats[min(len(r.lats)-1, int(float64(len(r.lats))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func create(ctx context.Context, o options, srv *server, tc *orchestratorapi.Client, backend string) error {
	var rec recorder
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				_, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: "load"}, orchestratorapi.CreateRunParams{AgentID: "load"})
				if err != nil {
					rec.fail("create run", err)
					continue
				}
				rec.add(time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("scenario=create backend=%s clients=%d duration=%s runs=%d errors=%d throughput=%.0f runs/s p50=%s p99=%s peak_rss=%.0f MiB\n",
		backend, o.clients, elapsed.Round(time.Millisecond), len(rec.lats), rec.errs.Load(), float64(len(rec.lats))/elapsed.Seconds(), ms(rec.pct(0.5)), ms(rec.pct(0.99)), srv.peakRSS())
	return nil
}

// lifecycle: producers create runs; workers lease, post 3 events and complete. Latency
// is creation to completion.
func lifecycle(ctx context.Context, o options, srv *server, tc, wc *orchestratorapi.Client, backend string) error {
	var rec recorder
	created := sync.Map{}
	deadline := time.Now().Add(o.duration)
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	// Keep a bounded backlog so latency measures the pipeline, not an ever-growing queue.
	backlog := make(chan struct{}, 512)
	for range o.clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				backlog <- struct{}{}
				t0 := time.Now()
				res, err := tc.CreateRun(ctx, &orchestratorapi.RunInput{Input: "load"}, orchestratorapi.CreateRunParams{AgentID: "load"})
				if err != nil {
					<-backlog
					rec.fail("create run", err)
					continue
				}
				created.Store(res.Response.RunID, t0)
			}
		})
	}
	var workersWG sync.WaitGroup
	stop := make(chan struct{})
	for i := range o.workers {
		workersWG.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := wc.LeaseRuns(ctx, &orchestratorapi.LeaseInput{WorkerID: fmt.Sprintf("w%d", i), MaxRuns: orchestratorapi.NewOptInt32(int32(o.concurrency)), WaitSeconds: orchestratorapi.NewOptInt32(1)})
				if err != nil {
					rec.fail("lease runs", err)
					continue
				}
				var inner sync.WaitGroup
				for _, lr := range res.Runs {
					inner.Go(func() {
						if err := finishRun(ctx, wc, lr, o.batch); err != nil {
							rec.fail("finish run", err)
							return
						}
						<-backlog
						if t0, ok := created.LoadAndDelete(lr.Run.RunID); ok {
							rec.add(time.Since(t0.(time.Time)))
						}
						done.Add(1)
					})
				}
				inner.Wait()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := done.Load()
	close(stop)
	workersWG.Wait()
	fmt.Printf("scenario=lifecycle backend=%s clients=%d workers=%d worker_concurrency=%d batched_events=%v duration=%s completed=%d errors=%d throughput=%.0f runs/s create_to_complete_p50=%s p99=%s peak_rss=%.0f MiB\n",
		backend, o.clients, o.workers, o.concurrency, o.batch, elapsed.Round(time.Millisecond), n, rec.errs.Load(), float64(n)/elapsed.Seconds(), ms(rec.pct(0.5)), ms(rec.pct(0.99)), srv.peakRSS())
	return nil
}

// finishRun does a worker's part for one leased run: three events, then completion.
func finishRun(ctx context.Context, wc *orchestratorapi.Client, lr orchestratorapi.LeasedRun, batch bool) error {
	ev := orchestratorapi.WorkerEvent{Type: orchestratorapi.WorkerEventTypeModelDelta}
	batches := [][]orchestratorapi.WorkerEvent{{ev}, {ev}, {ev}}
	if batch {
		batches = [][]orchestratorapi.WorkerEvent{{ev, ev, ev}}
	}
	for _, evs := range batches {
		if _, err := wc.AppendRunEvents(ctx, &orchestratorapi.AppendEventsInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken, Events: evs},
			orchestratorapi.AppendRunEventsParams{RunID: lr.Run.RunID}); err != nil {
			return err
		}
	}
	_, err := wc.CompleteRun(ctx, &orchestratorapi.CompleteInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken, Output: "ok"}, orchestratorapi.CompleteRunParams{RunID: lr.Run.RunID})
	return err
}
