// Package worker executes runs: it leases them from the orchestrator through the
// generated client, runs the agent loop (model calls through Model Policy, tool calls,
// streaming every step back as events), and completes or fails them. It never touches
// the database and never decides state or policy.
//
// Every tool call is decided by Model Policy before it runs (authorize.go); the
// builtin tools are the calculator, memory (memory.go) and http_fetch (httpfetch.go), and
// the tools of the agent's MCP servers come from mcp.go. A run leased again resumes from
// the steps its earlier attempt recorded (resume.go).
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-faster/jx"
	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// Config configures a worker.
type Config struct {
	ID              string
	OrchestratorURL string
	ModelPolicyURL  string
	WorkerToken     string
	// Concurrency is how many runs the worker executes at once.
	Concurrency int
	// DeltaFlush is how long model deltas are coalesced before they are posted.
	DeltaFlush time.Duration
	// DrainTimeout is how long Run, once its context ends, waits for the runs it holds
	// to finish before it abandons the rest (default 30 s). An abandoned run's lease
	// lapses and another worker resumes it from its recorded steps.
	DrainTimeout time.Duration
	Logger       *slog.Logger
	// MCPConnectTimeout bounds starting or dialling one MCP server and listing its
	// tools (default 30 s).
	MCPConnectTimeout time.Duration
	// MCPCallTimeout bounds one MCP tool call (default 5 min).
	MCPCallTimeout time.Duration
	// MCPEnv is the base environment (KEY=VALUE) of stdio MCP servers, before the tool
	// entry's env; nil means PATH, HOME, TMPDIR and LANG of the worker's own environment.
	MCPEnv []string
}

// Worker leases and executes runs.
type Worker struct {
	cfg  Config
	orch *orchestratorapi.Client
	// tenantClient calls tenant-scoped operations (memory) for a run's tenant.
	tenantClient *orchestratorapi.Client
	http         *http.Client
	logger       *slog.Logger

	// mp asks Model Policy about tool calls, for a run's tenant.
	mp *modelpolicyapi.Client
}

// New returns a worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.DeltaFlush <= 0 {
		cfg.DeltaFlush = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ID == "" {
		cfg.ID = "worker"
	}
	if cfg.MCPConnectTimeout <= 0 {
		cfg.MCPConnectTimeout = 30 * time.Second
	}
	if cfg.MCPCallTimeout <= 0 {
		cfg.MCPCallTimeout = 5 * time.Minute
	}
	if cfg.MCPEnv == nil {
		cfg.MCPEnv = defaultMCPEnv()
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}
	orch, err := orchestratorapi.NewClient(cfg.OrchestratorURL, workerCreds{cfg.WorkerToken}, orchestratorapi.WithClient(hc))
	if err != nil {
		return nil, err
	}
	tc, err := orchestratorapi.NewClient(cfg.OrchestratorURL, tenantCreds{}, orchestratorapi.WithClient(hc))
	if err != nil {
		return nil, err
	}
	mp, err := modelpolicyapi.NewClient(cfg.ModelPolicyURL, mpTenantCreds{}, modelpolicyapi.WithClient(hc))
	if err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, orch: orch, tenantClient: tc, mp: mp, http: hc, logger: cfg.Logger.With("worker_id", cfg.ID)}, nil
}

type workerCreds struct{ token string }

func (c workerCreds) WorkerToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.WorkerToken, error) {
	return orchestratorapi.WorkerToken{Token: c.token}, nil
}
func (workerCreds) TenantHeader(context.Context, orchestratorapi.OperationName) (orchestratorapi.TenantHeader, error) {
	return orchestratorapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
}
func (workerCreds) BearerAuth(context.Context, orchestratorapi.OperationName) (orchestratorapi.BearerAuth, error) {
	return orchestratorapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
}
func (workerCreds) AdminToken(context.Context, orchestratorapi.OperationName) (orchestratorapi.AdminToken, error) {
	return orchestratorapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
}

// maxLeaseBatch is the most runs one lease call may ask for (the spec's max_runs bound).
const maxLeaseBatch = 64

// Run leases and executes runs until ctx ends; then it stops leasing and waits up to
// DrainTimeout for the runs it holds to finish, and abandons the others.
func (w *Worker) Run(ctx context.Context) error {
	slots := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	runs, abandon := context.WithCancelCause(context.WithoutCancel(ctx))
	defer func() {
		drained := make(chan struct{})
		go func() { wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(w.cfg.DrainTimeout):
			w.logger.Warn("drain timeout: abandoning the runs still held", "timeout", w.cfg.DrainTimeout)
			abandon(errAbandoned)
			<-drained
		}
		abandon(nil)
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		slots <- struct{}{} // wait for a free slot
		free := 1
		for len(slots) < cap(slots) && free < maxLeaseBatch { // take the free slots for one lease call
			slots <- struct{}{}
			free++
		}
		res, err := w.orch.LeaseRuns(ctx, &orchestratorapi.LeaseInput{
			WorkerID: w.cfg.ID, MaxRuns: orchestratorapi.NewOptInt32(int32(free)), WaitSeconds: orchestratorapi.NewOptInt32(5),
		})
		leased := 0
		if err == nil {
			leased = len(res.Runs)
			for _, lr := range res.Runs {
				wg.Go(func() {
					defer func() { <-slots }()
					w.execute(runs, lr)
				})
			}
			backoff = 100 * time.Millisecond
		}
		for range free - leased {
			<-slots
		}
		if err != nil && ctx.Err() == nil {
			w.logger.Warn("lease runs", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}
	return nil
}

// runState is one leased run's execution.
type runState struct {
	w     *Worker
	lr    orchestratorapi.LeasedRun
	batch atomic.Int64
	// stop is cancelled when the lease is lost (cause errLeaseLost) or cancellation was
	// requested (cause errCancelled).
	ctx  context.Context
	stop context.CancelCauseFunc
	// final holds the last step's events, sent with :complete or :fail.
	final []orchestratorapi.WorkerEvent
	// mcp is the run's MCP sessions (nil without MCP tools), closed when it ends.
	mcp *mcpSet
	// token is the lease's latest run token (credentials.go), renewed by heartbeats.
	token atomic.Pointer[string]
}

var (
	errLeaseLost = errors.New("lease lost")
	errCancelled = errors.New("cancellation requested")
	errAbandoned = errors.New("abandoned at shutdown")
)

func (w *Worker) execute(parent context.Context, lr orchestratorapi.LeasedRun) {
	ctx, stop := context.WithCancelCause(parent)
	rs := &runState{w: w, lr: lr, ctx: ctx, stop: stop}
	rs.setToken(lr.Lease.AccessToken.Or(""))
	defer rs.closeMCP() // after the report, so closing never delays it
	defer stop(nil)
	go rs.heartbeat()
	logger := w.logger.With("run_id", lr.Run.RunID, "attempt", lr.Lease.FencingToken)
	output, u, err := rs.agentLoop()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errLeaseLost):
		logger.Info("lease lost; run abandoned")
		return
	case errors.Is(cause, errAbandoned):
		logger.Info("worker stopping; run left to lapse and resume elsewhere")
		return
	case errors.Is(cause, errCancelled):
		err = errCancelled
	}
	if err != nil {
		code, msg := "agent_error", err.Error()
		var me *modelError
		var mcpe *mcpError
		switch {
		case errors.Is(err, errCancelled):
			code, msg = "cancelled", "the run was cancelled"
		case errors.As(err, &me):
			code = "model_error"
		case errors.As(err, &mcpe):
			code = "mcp_error"
		case errors.Is(err, errStepLimit):
			code = "max_steps_exceeded"
		case errors.Is(err, errTokenBudget):
			code = "max_tokens_exceeded"
		}
		_, ferr := w.orch.FailRun(parent, &orchestratorapi.FailInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken,
			Error: orchestratorapi.RunError{Code: code, Message: msg}, Usage: orchestratorapi.NewOptUsage(u), Events: rs.final}, orchestratorapi.FailRunParams{RunID: lr.Run.RunID})
		if ferr != nil {
			logger.Warn("report run failure", "error", ferr)
		}
		return
	}
	if _, err := w.orch.CompleteRun(parent, &orchestratorapi.CompleteInput{LeaseID: lr.Lease.LeaseID, FencingToken: lr.Lease.FencingToken,
		Output: output, Usage: orchestratorapi.NewOptUsage(u), Events: rs.final}, orchestratorapi.CompleteRunParams{RunID: lr.Run.RunID}); err != nil {
		logger.Warn("complete run", "error", err)
	}
}

// heartbeat extends the lease and watches for cancellation: every half second (so a
// cancel stops the run within about a second), or a third of the lease if that is shorter.
func (rs *runState) heartbeat() {
	every := max(min(time.Until(rs.lr.Lease.ExpiresAt)/3, 500*time.Millisecond), 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-rs.ctx.Done():
			return
		case <-t.C:
		}
		res, err := rs.w.orch.HeartbeatLease(rs.ctx, &orchestratorapi.HeartbeatInput{FencingToken: rs.lr.Lease.FencingToken},
			orchestratorapi.HeartbeatLeaseParams{LeaseID: rs.lr.Lease.LeaseID})
		switch {
		case isLeaseLost(err):
			rs.stop(errLeaseLost)
			return
		case err != nil:
			continue // transient: the next beat may get through before the lease lapses
		}
		rs.setToken(res.AccessToken.Or("")) // the extended lease's token
		if res.CancelRequested {
			rs.stop(errCancelled)
			return
		}
	}
}

func isLeaseLost(err error) bool {
	var p *orchestratorapi.ProblemStatusCode
	return errors.As(err, &p) && p.StatusCode == http.StatusConflict
}

// post appends events under the lease; a 409 stops the run at once.
func (rs *runState) post(events ...orchestratorapi.WorkerEvent) error {
	batch := rs.batch.Add(1)
	res, err := rs.w.orch.AppendRunEvents(rs.ctx, &orchestratorapi.AppendEventsInput{
		LeaseID: rs.lr.Lease.LeaseID, FencingToken: rs.lr.Lease.FencingToken,
		BatchID: orchestratorapi.NewOptString(strconv.FormatInt(batch, 10)), Events: events,
	}, orchestratorapi.AppendRunEventsParams{RunID: rs.lr.Run.RunID})
	if isLeaseLost(err) {
		rs.stop(errLeaseLost)
		return errLeaseLost
	}
	if err == nil && res.CancelRequested {
		rs.stop(errCancelled)
	}
	return err
}

func event(typ orchestratorapi.WorkerEventType, data map[string]any) orchestratorapi.WorkerEvent {
	d := orchestratorapi.WorkerEventData{}
	for k, v := range data {
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		d[k] = jx.Raw(b)
	}
	return orchestratorapi.WorkerEvent{Type: typ, Data: orchestratorapi.NewOptWorkerEventData(d)}
}

var (
	errStepLimit   = errors.New("the agent reached max_steps without a final answer")
	errTokenBudget = errors.New("the agent used its max_tokens budget")
)

// agentLoop calls the model with the conversation so far, streams its deltas, runs the
// tools it calls, and repeats until a final answer, a limit, or a stop.
func (rs *runState) agentLoop() (string, orchestratorapi.Usage, error) {
	agent := rs.lr.Agent
	msgs := []message{}
	if agent.Instructions != "" {
		msgs = append(msgs, message{Role: "system", Content: agent.Instructions})
	}
	msgs = append(msgs, message{Role: "user", Content: rs.lr.Run.Input})
	// A run leased again resumes where its earlier attempt left off: recorded model
	// calls are not made again, and recorded tool results are reused, not re-executed.
	prev := resume(rs.lr.History)
	total := prev.usage
	msgs = append(msgs, prev.msgs...)
	if prev.final != nil {
		return *prev.final, total, nil
	}
	tools := toolDefs(agent)
	mcpTools, err := rs.openMCP()
	if err != nil {
		return "", total, err
	}
	tools = append(tools, mcpTools...)
	if len(prev.lastCalls) > 0 {
		results, err := rs.runTools(prev.lastCalls, prev.results, prev.announced, nil)
		if err != nil {
			return "", total, err
		}
		msgs = append(msgs, results...)
	}
	maxSteps := int(agent.Limits.MaxSteps.Or(10))
	for step := prev.steps; step < maxSteps; step++ {
		if err := rs.ctx.Err(); err != nil {
			return "", total, err
		}
		res, err := rs.modelStep(msgs, tools)
		total.PromptTokens += res.usage.PromptTokens
		total.CompletionTokens += res.usage.CompletionTokens
		if err != nil {
			return "", total, err
		}
		// The step's last deltas, its model.message and its tool calls' announcements
		// go in one batch: one round trip, and a later attempt sees all or none of them.
		var step []orchestratorapi.WorkerEvent
		if res.tail != "" {
			step = append(step, event(orchestratorapi.WorkerEventTypeModelDelta, map[string]any{"text": res.tail}))
		}
		step = append(step, event(orchestratorapi.WorkerEventTypeModelMessage, map[string]any{
			"role": "assistant", "content": res.content, "tool_calls": res.toolCalls, "finish_reason": res.finish,
			"usage": res.usage,
		}))
		overBudget := false
		if budget := agent.Limits.MaxTokens.Or(0); budget > 0 && total.PromptTokens+total.CompletionTokens > budget {
			overBudget = true
		}
		if len(res.toolCalls) == 0 || overBudget {
			rs.final = step // posted with the completion or failure, in its transaction
			if overBudget {
				return "", total, errTokenBudget
			}
			return res.content, total, nil
		}
		msgs = append(msgs, message{Role: "assistant", Content: res.content, ToolCalls: res.toolCalls})
		results, err := rs.runTools(res.toolCalls, nil, nil, step)
		if err != nil {
			return "", total, err
		}
		msgs = append(msgs, results...)
	}
	return "", total, errStepLimit
}

// modelStep makes one streamed model call, posting deltas every DeltaFlush; the deltas
// after the last flush are left in the completion's tail for the caller to post.
func (rs *runState) modelStep(msgs []message, tools []toolDef) (completion, error) {
	var (
		mu      sync.Mutex
		pending strings.Builder
		postErr error
	)
	flush := func() {
		mu.Lock()
		text := pending.String()
		pending.Reset()
		mu.Unlock()
		if text == "" {
			return
		}
		if err := rs.post(event(orchestratorapi.WorkerEventTypeModelDelta, map[string]any{"text": text})); err != nil {
			mu.Lock()
			postErr = err
			mu.Unlock()
		}
	}
	done := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		t := time.NewTicker(rs.w.cfg.DeltaFlush)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				flush()
			}
		}
	}()
	res, err := rs.w.streamChat(rs.ctx, rs.cred(), rs.lr.Agent.Model, msgs, tools, func(delta string) {
		mu.Lock()
		pending.WriteString(delta)
		mu.Unlock()
	})
	close(done)
	<-flushed // no flush is in flight now
	if err != nil {
		flush() // what streamed before the failure, for the log
		return res, err
	}
	// The deltas since the last flush go out with the step's model.message.
	res.tail = pending.String()
	return res, postErr
}

// runTools executes the calls in parallel. Their tool.call announcements, after the lead
// events when there are any, are held as deltas are (Config.DeltaFlush): a tool that
// returns before then posts its tool.result in the same batch, one round trip for a quick
// tool; otherwise they go out on their own when the time is up. Each tool.result is
// posted as soon as its tool returns, always after the announcements, so a later attempt
// never runs a call whose result is recorded. recorded holds results an earlier attempt
// recorded (those calls are not run again) and announced the calls whose tool.call it
// recorded. A tool's failure is its result, for the model to read; it does not fail the run.
func (rs *runState) runTools(calls []toolCall, recorded map[string]string, announced map[string]bool, lead []orchestratorapi.WorkerEvent) ([]message, error) {
	announce := lead // events to post in the same batch, before the announcements
	for _, c := range calls {
		if !announced[c.ID] {
			announce = append(announce, event(orchestratorapi.WorkerEventTypeToolCall, map[string]any{
				"id": c.ID, "name": c.Function.Name, "arguments": json.RawMessage(validJSON(c.Function.Arguments)),
			}))
		}
	}
	var (
		mu      sync.Mutex
		pending = announce // the announcements not yet posted; nil once they are
		annErr  error      // their post's error
	)
	// postAfter posts events after the announcements: with them, while they are pending.
	// Holding mu while it posts them makes any other result wait for them.
	postAfter := func(events ...orchestratorapi.WorkerEvent) error {
		mu.Lock()
		if pending == nil {
			failed := annErr
			mu.Unlock()
			if failed != nil || len(events) == 0 {
				return nil // the failure is annErr's to report
			}
			return rs.post(events...)
		}
		defer mu.Unlock()
		batch := slices.Concat(pending, events)
		pending = nil
		annErr = rs.post(batch...)
		return annErr
	}
	if len(pending) == 0 {
		pending = nil
	} else {
		t := time.AfterFunc(rs.w.cfg.DeltaFlush, func() { _ = postAfter() })
		defer t.Stop()
	}
	results := make([]message, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		if out, ok := recorded[c.ID]; ok {
			results[i] = message{Role: "tool", Content: out, ToolCallID: c.ID}
			continue
		}
		wg.Go(func() {
			out, err := rs.callTool(c)
			if err != nil {
				out = "error: " + err.Error()
			}
			if rs.ctx.Err() != nil {
				return // stopped: the tool was interrupted, and its result is not one
			}
			results[i] = message{Role: "tool", Content: out, ToolCallID: c.ID}
			errs[i] = postAfter(event(orchestratorapi.WorkerEventTypeToolResult, map[string]any{
				"id": c.ID, "name": c.Function.Name, "content": out,
			}))
		})
	}
	wg.Wait()
	if err := rs.ctx.Err(); err != nil {
		mu.Lock()
		pending = nil // a late timer posts nothing
		mu.Unlock()
		return nil, err
	}
	if err := postAfter(); err != nil { // announcements no result took along (every call was recorded)
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if annErr != nil {
		return nil, annErr
	}
	return results, errors.Join(errs...)
}

func (rs *runState) callTool(c toolCall) (string, error) {
	if err := validateArguments(rs.lr.Agent, c); err != nil {
		return "", err
	}
	var fetch string
	if c.Function.Name == "http_fetch" {
		fetch = httpFetchURL(c.Function.Arguments)
	}
	allowed, err := rs.authorize(c.Function.Name, fetch)
	if err != nil {
		return "", err
	}
	switch c.Function.Name {
	case "calculator":
		var args struct {
			Expression string `json:"expression"`
		}
		if err := json.Unmarshal([]byte(validJSON(c.Function.Arguments)), &args); err != nil {
			return "", fmt.Errorf("calculator arguments: %w", err)
		}
		v, err := Calculate(args.Expression)
		if err != nil {
			return "", err
		}
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case "memory_put", "memory_get", "memory_search":
		return rs.memoryTool(c.Function.Name, c.Function.Arguments)
	case "http_fetch":
		return rs.httpFetch(c.Function.Arguments, allowed)
	}
	if t, ok := rs.mcp.tool(c.Function.Name); ok {
		return rs.callMCP(t, c.Function.Arguments)
	}
	return "", fmt.Errorf("tool %q has no executor in this worker", c.Function.Name)
}

// validateArguments checks a call's arguments against its tool's JSON Schema before the
// tool runs; a violation is the tool's result, for the model to correct.
func validateArguments(a orchestratorapi.Agent, c toolCall) error {
	var schema json.RawMessage
	for _, t := range a.Tools {
		if t.Name != c.Function.Name {
			continue
		}
		if params, ok := t.Parameters.Get(); ok {
			m := map[string]json.RawMessage{}
			for k, v := range params {
				m[k] = json.RawMessage(v)
			}
			schema, _ = json.Marshal(m)
		} else if typ := t.Type.Or(orchestratorapi.ToolTypeFunction); typ == orchestratorapi.ToolTypeBuiltin {
			schema = json.RawMessage(builtinSchemas[t.Name])
		}
	}
	if schema == nil {
		return nil
	}
	sch, err := compileSchema(c.Function.Name, schema)
	if err != nil {
		return err
	}
	return checkArguments(c.Function.Name, sch, c.Function.Arguments)
}

// schemaCacheSize bounds the compiled schemas a worker keeps; the cache starts over when
// it is full (agents are few, their tools fewer).
const schemaCacheSize = 1024

// schemaCache holds compiled parameter schemas by their text: a compiled schema is
// read-only, so every run of an agent shares one, and compiling (a fifth of a tool call's
// cost in the worker) is done once per schema.
var schemaCache struct {
	sync.Mutex
	m map[string]*jsonschema.Schema
}

// compileSchema compiles a tool's parameter schema (an MCP tool's input schema too), or
// returns the one compiled before from the same text.
func compileSchema(tool string, schema []byte) (*jsonschema.Schema, error) {
	schemaCache.Lock()
	sch := schemaCache.m[string(schema)]
	schemaCache.Unlock()
	if sch != nil {
		return sch, nil
	}
	sch, err := compileSchemaText(tool, schema)
	if err != nil {
		return nil, err
	}
	schemaCache.Lock()
	if len(schemaCache.m) >= schemaCacheSize || schemaCache.m == nil {
		schemaCache.m = make(map[string]*jsonschema.Schema)
	}
	schemaCache.m[string(schema)] = sch
	schemaCache.Unlock()
	return sch, nil
}

func compileSchemaText(tool string, schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(schema)))
	if err != nil {
		return nil, fmt.Errorf("tool %q has an unreadable parameter schema: %w", tool, err)
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource("tool.json", doc); err != nil {
		return nil, err
	}
	sch, err := comp.Compile("tool.json")
	if err != nil {
		return nil, fmt.Errorf("tool %q has an invalid parameter schema: %w", tool, err)
	}
	return sch, nil
}

// checkArguments validates a call's arguments against its tool's compiled schema.
func checkArguments(tool string, sch *jsonschema.Schema, arguments string) error {
	args, err := jsonschema.UnmarshalJSON(strings.NewReader(arguments))
	if err != nil {
		return fmt.Errorf("arguments of %q are not JSON: %w", tool, err)
	}
	if err := sch.Validate(args); err != nil {
		return fmt.Errorf("arguments of %q do not match its parameters: %v", tool, err)
	}
	return nil
}

const calculatorSchema = `{"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]}`

// builtinSchemas are the parameter schemas of the builtin tools this worker executes.
var builtinSchemas = map[string]string{
	"calculator":    calculatorSchema,
	"memory_put":    memoryPutSchema,
	"memory_get":    memoryGetSchema,
	"memory_search": memorySearchSchema,
	"http_fetch":    httpFetchSchema,
}

var builtinDescriptions = map[string]string{
	"calculator":    "Evaluates an arithmetic expression (+ - * / and parentheses).",
	"memory_put":    "Stores a text under a key in the agent's memory.",
	"memory_get":    "Reads the text stored under a key in the agent's memory.",
	"memory_search": "Finds the memory items most similar to a query.",
	"http_fetch":    "Fetches an http or https URL (GET or HEAD) and returns the status, content type and text of the response.",
}

func validJSON(s string) string {
	if json.Valid([]byte(s)) {
		return s
	}
	return "{}"
}

// toolDefs offers the agent's function tools and the builtins this worker executes; the
// tools of its MCP servers come from openMCP.
func toolDefs(a orchestratorapi.Agent) []toolDef {
	var out []toolDef
	for _, t := range a.Tools {
		typ := t.Type.Or(orchestratorapi.ToolTypeFunction)
		if typ == orchestratorapi.ToolTypeMcp {
			continue
		}
		var d toolDef
		d.Type = "function"
		d.Function.Name = t.Name
		d.Function.Description = t.Description.Or("")
		if params, ok := t.Parameters.Get(); ok {
			m := map[string]json.RawMessage{}
			for k, v := range params {
				m[k] = json.RawMessage(v)
			}
			d.Function.Parameters, _ = json.Marshal(m)
		} else if typ == orchestratorapi.ToolTypeBuiltin && builtinSchemas[t.Name] != "" {
			d.Function.Description = builtinDescriptions[t.Name]
			d.Function.Parameters = json.RawMessage(builtinSchemas[t.Name])
		}
		out = append(out, d)
	}
	return out
}
