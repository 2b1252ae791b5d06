// Command mpbench is the Model Policy load harness behind `make bench`: it starts a test
// upstream (impl/modelpolicy/upstreamtest) and a gateway node in front of it, then, in
// one run against that same upstream, measures
//
//   - the latency the gateway adds at a fixed rate (default 1,000 non-streaming requests
//     per second), calling the upstream directly and through the gateway, and, as the
//     floor of what any proxy adds, through a bare reverse proxy (net/http/httputil);
//   - the highest rate each path sustains with every request succeeding;
//   - the policy decision latency (the embedded bundle, one evaluation at a time);
//   - the time to the first streamed token, directly and through the gateway.
//
// It prints a Markdown section for docs/benchmarks.md (tools/bench-modelpolicy.sh puts it
// there).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
	"github.com/nexixai/agentos/internal/policyeval"
	"github.com/nexixai/agentos/policy"
)

func main() {
	var (
		rate     = flag.Int("rate", 1000, "fixed request rate of the latency comparison (requests/s)")
		duration = flag.Duration("duration", 10*time.Second, "length of each fixed-rate run")
		step     = flag.Duration("step", 3*time.Second, "length of each run of the sustained-rate search")
		dbURL    = flag.String("database-url", "", "PostgreSQL URL for the gateway (default: embedded SQLite)")
		profile  = flag.String("cpuprofile", "", "write a CPU profile of the gateway's fixed-rate run to this file")
		quick    = flag.Bool("quick", false, "only the fixed-rate comparison (for tuning)")
		repeat   = flag.Int("repeat", 3, "fixed-rate comparisons to run; the added latency is reported for each and as the median")
		serveDir = flag.String("serve-gateway", "", "internal: serve a gateway node on the data directory given (the harness runs it as its own process)")
		serveUp  = flag.Bool("serve-upstream", false, "internal: serve the test upstream (the harness runs it as its own process)")
		proxyTo  = flag.String("serve-proxy", "", "internal: serve a bare reverse proxy to this URL (the harness runs it as its own process)")
		procs    = flag.Int("processes", 3, "3: load generator, gateway and upstream in processes of their own; 1: all in this process")
	)
	flag.Parse()
	cpuProfile = *profile
	raiseFileLimit()
	if *serveUp {
		up := upstreamtest.New(upstreamBehavior, false)
		fmt.Printf("LISTEN %s\n", up.BaseURL())
		_, _ = io.Copy(io.Discard, os.Stdin)
		up.Close()
		return
	}
	if *proxyTo != "" {
		if err := serveProxy(*proxyTo); err != nil {
			fmt.Fprintln(os.Stderr, "mpbench proxy:", err)
			os.Exit(1)
		}
		return
	}
	if *serveDir != "" {
		if err := serveGateway(*serveDir, *dbURL); err != nil {
			fmt.Fprintln(os.Stderr, "mpbench gateway:", err)
			os.Exit(1)
		}
		return
	}
	skipSearch = *quick
	repeats = max(*repeat, 1)
	separate = *procs != 1
	if err := run(*rate, *duration, *step, *dbURL); err != nil {
		fmt.Fprintln(os.Stderr, "mpbench:", err)
		os.Exit(1)
	}
}

var (
	cpuProfile string
	skipSearch bool
	repeats    int
	separate   bool
)

const chatBody = `{"model":"bench-chat","messages":[{"role":"system","content":"You are a benchmark."},{"role":"user","content":"Say eight words, please."}],"temperature":0}`

type target struct {
	name   string
	url    string
	header http.Header
	body   []byte
}

// upstreamBehavior is the test upstream's: 8 words, streamed 1 ms apart.
var upstreamBehavior = upstreamtest.Behavior{Words: 8, ChunkDelay: time.Millisecond}

func run(rate int, duration, step time.Duration, dbURL string) error {
	// With separate processes, the upstream, the gateway and the load generator run as
	// they would be deployed: each path crosses the process boundaries it would, and the
	// gateway's garbage collector sees only its own work. In one process, the hops are
	// goroutine hand-offs and what is measured is closer to the gateway's own work.
	var upURL string
	if separate {
		u, stopUp, err := startChild("-serve-upstream")
		if err != nil {
			return err
		}
		defer stopUp()
		upURL = u
	} else {
		up := upstreamtest.New(upstreamBehavior, false)
		defer up.Close()
		upURL = up.BaseURL()
	}
	dir, err := os.MkdirTemp("", "mpbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	providers := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(providers, []byte(fmt.Sprintf(`
providers: [{name: up, type: openai, base_url: %q}]
models: [{name: bench-chat, type: chat, deployments: [{provider: up, model: upstream-model}]}]
`, upURL)), 0o600); err != nil {
		return err
	}
	var gw string
	if separate {
		u, stop, err := startChild("-serve-gateway", dir, "-database-url", dbURL)
		if err != nil {
			return err
		}
		defer stop()
		gw = u
	} else {
		u, stop, err := inProcessGateway(dir, dbURL)
		if err != nil {
			return err
		}
		defer stop()
		gw = u
	}

	var proxyURL string
	if separate {
		u, stop, err := startChild("-serve-proxy", upURL)
		if err != nil {
			return err
		}
		defer stop()
		proxyURL = u
	} else {
		u, stop, err := startProxy(upURL)
		if err != nil {
			return err
		}
		defer stop()
		proxyURL = u
	}

	direct := target{name: "direct", url: upURL + "/chat/completions", header: http.Header{"Content-Type": {"application/json"}}, body: []byte(chatBody)}
	gateway := target{name: "gateway", url: gw + "/v1/chat/completions", header: http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {"tnt_demo"}}, body: []byte(chatBody)}
	proxy := target{name: "bare proxy", url: proxyURL + "/chat/completions", header: direct.header, body: direct.body}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}, Timeout: 30 * time.Second}

	// Warm up both paths (connections, caches, JIT-free but allocator-warm).
	for _, t := range []target{direct, gateway, proxy} {
		if r := fixedRate(client, t, 500, 2*time.Second); r.errors > 0 {
			return fmt.Errorf("warm-up of %s: %d errors (%v)", t.name, r.errors, r.firstErr)
		}
	}
	fmt.Fprintf(os.Stderr, "fixed rate %d/s for %s, direct then gateway\n", rate, duration)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	// Interleave one-second slices of both paths, so noise from elsewhere on the machine
	// falls on both alike.
	var d, g, b result
	var added50, added99, bare50, bare99 []time.Duration
	for range repeats {
		var dr, gr, br result
		slices := max(int(duration/time.Second), 1)
		for range slices {
			dr.add(fixedRate(client, direct, rate, duration/time.Duration(slices)))
			gr.add(fixedRate(client, gateway, rate, duration/time.Duration(slices)))
			br.add(fixedRate(client, proxy, rate, duration/time.Duration(slices)))
		}
		added50 = append(added50, gr.pct(50)-dr.pct(50))
		added99 = append(added99, gr.pct(99)-dr.pct(99))
		bare50 = append(bare50, br.pct(50)-dr.pct(50))
		bare99 = append(bare99, br.pct(99)-dr.pct(99))
		d.add(dr)
		g.add(gr)
		b.add(br)
		fmt.Fprintf(os.Stderr, "  run: added p50 %s, p99 %s (bare proxy: p50 %s, p99 %s)\n", us(added50[len(added50)-1]), us(added99[len(added99)-1]),
			us(bare50[len(bare50)-1]), us(bare99[len(bare99)-1]))
	}
	d.name, g.name, b.name = direct.name, gateway.name, proxy.name
	if cpuProfile != "" {
		pprof.StopCPUProfile()
		if f, err := os.Create(cpuProfile + ".heap"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	if d.errors > 0 || g.errors > 0 || b.errors > 0 {
		return fmt.Errorf("fixed-rate run had errors: direct %d (%v), gateway %d (%v), bare proxy %d (%v)", d.errors, d.firstErr, g.errors, g.firstErr, b.errors, b.firstErr)
	}

	if skipSearch {
		fmt.Printf("direct p50 %s p99 %s; gateway p50 %s p99 %s; added p50 %s p99 %s; bare proxy added p50 %s p99 %s\n", us(d.pct(50)), us(d.pct(99)), us(g.pct(50)), us(g.pct(99)),
			us(median(added50)), us(median(added99)), us(median(bare50)), us(median(bare99)))
		return nil
	}
	fmt.Fprintln(os.Stderr, "searching the highest sustained rate")
	dMax := sustained(client, direct, step)
	gMax := sustained(client, gateway, step)

	fmt.Fprintln(os.Stderr, "policy decisions")
	pol, err := policyLatency(20000, true)
	if err != nil {
		return err
	}
	polCached, err := policyLatency(20000, false)
	if err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "time to first token")
	stream := []byte(strings.Replace(chatBody, `"temperature":0`, `"temperature":0,"stream":true`, 1))
	dT := ttft(client, target{name: "direct", url: direct.url, header: direct.header, body: stream}, 200, 5*time.Second)
	gT := ttft(client, target{name: "gateway", url: gateway.url, header: gateway.header, body: stream}, 200, 5*time.Second)
	if dT.errors > 0 || gT.errors > 0 {
		return fmt.Errorf("streaming run had errors: direct %d (%v), gateway %d (%v)", dT.errors, dT.firstErr, gT.errors, gT.firstErr)
	}

	backend := "SQLite (embedded)"
	if dbURL != "" {
		backend = "PostgreSQL"
	}
	p50a, p99a := median(added50), median(added99)
	layout := "the load generator, the gateway and the test upstream run as three processes on the machine"
	if !separate {
		layout = "the load generator, the gateway and the test upstream run in one process (hops are goroutine hand-offs)"
	}
	fmt.Printf("Machine: %s, %d cores, %s, %s; gateway database: %s; %s.\n\n",
		cpuName(), runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"), backend, layout)
	fmt.Printf("**Fixed rate, non-streaming** (%d requests/s, %d runs of %s per path, latency from the scheduled send time; the table merges the runs):\n\n", rate, repeats, duration)
	fmt.Println("| path | requests | errors | achieved rate | p50 | p90 | p99 | max |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range []result{d, g, b} {
		fmt.Printf("| %s | %d | %d | %.0f/s | %s | %s | %s | %s |\n", r.name, r.n, r.errors, r.achieved, us(r.pct(50)), us(r.pct(90)), us(r.pct(99)), us(r.max()))
	}
	fmt.Printf("\nThe gateway adds **%s at p50** (target ≤ 200 µs) and **%s at p99** (target ≤ 2 ms), the medians of the runs (p50: %s; p99: %s).\n\n",
		us(p50a), us(p99a), list(added50), list(added99))
	fmt.Printf("For reference, a bare reverse proxy (Go's `httputil.ReverseProxy`, no policy, quota, usage or audit) in the gateway's place adds %s at p50 and %s at p99 (medians of the runs; p50: %s; p99: %s): the cost of the extra hop on this machine.\n\n",
		us(median(bare50)), us(median(bare99)), list(bare50), list(bare99))
	fmt.Printf("**Highest sustained rate** (every request succeeds, the achieved rate within 5%% of the target, p99 under 100 ms; %s per step, a failed step tried once more): direct **%d/s**, gateway **%d/s**: a ratio of **%.2f**.\n\n", step, dMax, gMax, float64(gMax)/float64(max(dMax, 1)))
	fmt.Printf("**Policy decision** (embedded bundle, %d decisions one at a time, the estimated tokens changing with every call): as the gateway decides (with its decision cache, keyed by the input fields the bundle reads), p50 %s, p99 **%s** (target ≤ 100 µs), max %s; evaluated by OPA every time (cache off), p50 %s, p99 %s, max %s.\n\n",
		polCached.n, us(polCached.pct(50)), us(polCached.pct(99)), us(polCached.max()), us(pol.pct(50)), us(pol.pct(99)), us(pol.max()))
	fmt.Printf("**Time to first streamed token** (200 streams/s for 5 s, 8 chunks 1 ms apart): direct p50 %s / p99 %s, gateway p50 %s / p99 %s: the gateway adds **%s at p50** (target ≤ 1 ms) and %s at p99.\n",
		us(dT.pct(50)), us(dT.pct(99)), us(gT.pct(50)), us(gT.pct(99)), us(gT.pct(50)-dT.pct(50)), us(gT.pct(99)-dT.pct(99)))
	return nil
}

// gatewayConfig is the node's configuration: the providers file in dir, quotas
// unlimited (the gateway is measured, not its quotas), audit to a file in dir.
func gatewayConfig(dir, dbURL string) (config.Config, error) {
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.ModelPolicyAddr = "127.0.0.1:0"
	cfg.AuditSink = "file:" + filepath.Join(dir, "audit.log")
	cfg.AdminToken = "adm_mpbench_0123456789abcdef"
	cfg.ModelProvidersFile = filepath.Join(dir, "providers.yaml")
	cfg.DatabaseURL = dbURL
	cfg.QuotaInvokeQPS, cfg.QuotaTokensPerMinute = 0, 0
	cfg.LogLevel = "error"
	return cfg, cfg.Validate()
}

// inProcessGateway serves the node in this process.
func inProcessGateway(dir, dbURL string) (string, func(), error) {
	cfg, err := gatewayConfig(dir, dbURL)
	if err != nil {
		return "", nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	node, err := platform.New(context.Background(), cfg, logger, platform.Options{Services: []string{platform.ModelPolicy}})
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	return node.URL(platform.ModelPolicy), func() { cancel(); <-done }, nil
}

// startProxy serves a bare reverse proxy to upstream in this process.
func startProxy(upstream string) (string, func(), error) {
	h, err := bareProxy(upstream)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// serveProxy is the bare proxy's child process: it prints "LISTEN <url>" and stops when
// its standard input closes.
func serveProxy(upstream string) error {
	u, stop, err := startProxy(upstream)
	if err != nil {
		return err
	}
	fmt.Printf("LISTEN %s\n", u)
	_, _ = io.Copy(io.Discard, os.Stdin)
	stop()
	return nil
}

// bareProxy is the reference the gateway's hop is compared with: Go's reverse proxy,
// with a transport sized as the gateway's provider transport is, and nothing else.
func bareProxy(upstream string) (http.Handler, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	return &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
	}, nil
}

// serveGateway is the child process: it serves the node, prints "LISTEN <url>" and
// stops when its standard input closes.
func serveGateway(dir, dbURL string) error {
	cfg, err := gatewayConfig(dir, dbURL)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	node, err := platform.New(context.Background(), cfg, logger, platform.Options{Services: []string{platform.ModelPolicy}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	fmt.Printf("LISTEN %s\n", node.URL(platform.ModelPolicy))
	return node.Serve(ctx)
}

// startChild runs this program with args as a server process and returns the URL it
// announces and the function that stops it.
func startChild(args ...string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return u, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("the %s process did not start: %v", args[0], sc.Err())
}

type result struct {
	name     string
	n        int
	errors   int64
	firstErr error
	lat      []time.Duration
	achieved float64
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	if !slices.IsSorted(r.lat) {
		slices.Sort(r.lat)
	}
	i := int(float64(len(r.lat)-1) * p / 100)
	return r.lat[i]
}

func (r *result) max() time.Duration { return r.pct(100) }

// add merges another run of the same path.
func (r *result) add(o result) {
	elapsed := 0.0
	if r.achieved > 0 {
		elapsed = float64(r.n) / r.achieved
	}
	if o.achieved > 0 {
		elapsed += float64(o.n) / o.achieved
	}
	r.n += o.n
	r.errors += o.errors
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.lat = append(r.lat, o.lat...)
	if elapsed > 0 {
		r.achieved = float64(r.n) / elapsed
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func list(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = us(d)
	}
	return strings.Join(parts, ", ")
}

func us(d time.Duration) string {
	if d >= 10*time.Millisecond || d <= -10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	if d < 10*time.Microsecond && d > -10*time.Microsecond {
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}

// fixedRate sends at rate for d, open loop: each request is started at its scheduled
// time whatever the others do, and its latency counts from that time.
func fixedRate(client *http.Client, t target, rate int, d time.Duration) result {
	n := int(float64(rate) * d.Seconds())
	r := result{name: t.name, n: n, lat: make([]time.Duration, n)}
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	var errs atomic.Int64
	var firstErr firstError
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			if err := send(client, t); err != nil {
				errs.Add(1)
				firstErr.set(err)
				r.lat[i] = time.Since(at)
				return
			}
			r.lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	r.errors = errs.Load()
	r.firstErr = firstErr.get()
	r.achieved = float64(n) / elapsed.Seconds()
	return r
}

// firstError keeps the first error of a run.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func send(client *http.Client, t target) error {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		return err
	}
	req.Header = t.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// sustained raises the rate until a step fails twice in a row (the machine is shared):
// an error, the generator falling more than 5% behind, or a p99 over 100 ms. It returns
// the last rate that passed.
func sustained(client *http.Client, t target, step time.Duration) int {
	best := 0
	for _, rate := range []int{500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000} {
		ok := false
		for try := range 2 {
			r := fixedRate(client, t, rate, step)
			ok = r.errors == 0 && r.achieved >= 0.95*float64(rate) && r.pct(99) < 100*time.Millisecond
			fmt.Fprintf(os.Stderr, "  %s %d/s (try %d): achieved %.0f/s, errors %d, p99 %s\n", t.name, rate, try+1, r.achieved, r.errors, us(r.pct(99)))
			if ok {
				break
			}
			settle() // a hiccup of the shared machine, or the previous step's backlog
		}
		if !ok {
			break
		}
		best = rate
		time.Sleep(500 * time.Millisecond)
	}
	settle() // the last step overloaded the process(es): let them drain before what follows
	return best
}

// settle lets the requests of an overloaded step drain and their garbage be collected.
func settle() {
	time.Sleep(2 * time.Second)
	runtime.GC()
}

func policyLatency(n int, noCache bool) (result, error) {
	ctx := context.Background()
	e, err := policyeval.New(ctx, policyeval.Options{Embedded: policy.Bundle, NoCache: noCache})
	if err != nil {
		return result{}, err
	}
	in := policyeval.Input{
		Tenant:    policyeval.TenantInput{ID: "tnt_demo", Known: true},
		Principal: policyeval.PrincipalInput{ID: "anonymous", Auth: "dev"},
		Operation: "chat.completions", Model: "bench-chat", EstimatedTokens: 40,
	}
	r := result{name: "policy", n: n, lat: make([]time.Duration, 0, n)}
	for range 1000 {
		_, _ = e.Evaluate(ctx, in)
	}
	for i := range n {
		// Prompts differ from call to call: so does the estimate.
		in.EstimatedTokens = int64(20 + i%4000)
		start := time.Now()
		d, err := e.Evaluate(ctx, in)
		r.lat = append(r.lat, time.Since(start))
		if err != nil || !d.Allow {
			return r, errors.New("the policy did not allow the benchmark input")
		}
	}
	return r, nil
}

// ttft opens streams at rate for d and times the first content chunk of each.
func ttft(client *http.Client, t target, rate int, d time.Duration) result {
	n := int(float64(rate) * d.Seconds())
	r := result{name: t.name, n: n, lat: make([]time.Duration, n)}
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	var errs atomic.Int64
	var firstErr firstError
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			first, err := firstToken(client, t, at)
			if err != nil {
				errs.Add(1)
				firstErr.set(err)
			}
			r.lat[i] = first
		})
	}
	wg.Wait()
	r.errors = errs.Load()
	r.firstErr = firstErr.get()
	return r
}

func firstToken(client *http.Client, t target, at time.Time) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		return 0, err
	}
	req.Header = t.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var first time.Duration
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if first == 0 && strings.HasPrefix(line, "data: ") && strings.Contains(line, `"content"`) {
			first = time.Since(at)
		}
	}
	if err := sc.Err(); err != nil {
		return first, err
	}
	if first == 0 {
		return 0, errors.New("no content chunk")
	}
	return first, nil
}

// raiseFileLimit lifts the open-file limit to its maximum: the open-loop runs at high
// rates hold thousands of connections.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return runtime.GOARCH
}
