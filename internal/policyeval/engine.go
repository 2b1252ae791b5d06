package policyeval

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// DecisionQuery is the query every model gateway decision evaluates.
const DecisionQuery = "data.agentos.model.decision"

// decisionPackage and decisionRule are what a bundle must define.
var decisionPackage = ast.MustParseRef("data.agentos.model")

// ReasonUndefined is the reason of the deny that an undefined decision becomes.
const ReasonUndefined = "policy decision is undefined"

// Input is what a decision is asked about. Evaluate normalises it: every field is
// present in the Rego input (empty strings, empty lists, zeros), so a rule never turns
// undefined because a field is missing.
type Input struct {
	Tenant          TenantInput    `json:"tenant"`
	Principal       PrincipalInput `json:"principal"`
	Operation       string         `json:"operation"`
	Model           string         `json:"model"`
	Tools           []string       `json:"tools"`
	EstimatedTokens int64          `json:"estimated_tokens"`
	MaxTokens       int64          `json:"max_tokens"`
	Stream          bool           `json:"stream"`
	// Tool is the call a tool.call decision is about (empty for the other operations).
	Tool ToolInput `json:"tool"`
	// RunID and AgentID name the run and agent a tool call belongs to ("" when unknown).
	RunID   string `json:"run_id"`
	AgentID string `json:"agent_id"`
}

// ToolInput describes one tool call (operation tool.call).
type ToolInput struct {
	Name string `json:"name"`
	// Type is builtin, function or mcp.
	Type string `json:"type"`
	// Server is the MCP server of an mcp tool.
	Server string `json:"server"`
	// URL is the URL an http_fetch call requests; Scheme, Host (lower-case, no trailing
	// dot) and Port (the scheme's default when the URL has none) are parsed from it.
	URL    string `json:"url"`
	Scheme string `json:"scheme"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
}

// TenantInput describes the tenant of a decision.
type TenantInput struct {
	ID string `json:"id"`
	// Known is true when the tenant exists in the tenant store.
	Known  bool              `json:"known"`
	Labels map[string]string `json:"labels"`
}

// PrincipalInput describes who asks.
type PrincipalInput struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
	// Auth is how the principal authenticated: dev, jwt or api_key.
	Auth string `json:"auth"`
}

// Decision is a policy's answer.
type Decision struct {
	Allow   bool
	Reasons []string
	// Obligations are conditions attached to an allow, e.g. max_tokens.
	Obligations map[string]any
	// Revision is the revision of the bundle that decided.
	Revision string
}

// MaxTokens returns the max_tokens obligation, if the decision carries a positive one.
func (d Decision) MaxTokens() (int64, bool) {
	v, ok := d.Obligations["max_tokens"]
	if !ok {
		return 0, false
	}
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			f, ferr := x.Float64()
			if ferr != nil {
				return 0, false
			}
			i = int64(f)
		}
		n = i
	case int64:
		n = x
	case int:
		n = int64(x)
	case float64:
		n = int64(x)
	default:
		return 0, false
	}
	return n, n > 0
}

// compiled is one prepared bundle.
type compiled struct {
	query    rego.PreparedEvalQuery
	revision string
	loadedAt time.Time
	// cache holds decisions by input; nil when the bundle calls a non-deterministic
	// built-in (time, http.send, rand…), whose decisions must not be reused.
	cache *decisionCache
	// fields are the input fields the bundle reads: the cache key is made of them only.
	fields inputFields
}

// Deterministic reports whether the bundle's modules call only deterministic built-in
// functions, so that equal inputs always get equal decisions.
func (b *Bundle) Deterministic() bool {
	det := true
	for _, m := range b.Modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if !e.IsCall() {
				return false
			}
			if bi, ok := ast.BuiltinMap[e.Operator().String()]; ok && bi.Nondeterministic {
				det = false
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if c, ok := t.Value.(ast.Call); ok && len(c) > 0 {
				if bi, ok := ast.BuiltinMap[c[0].String()]; ok && bi.Nondeterministic {
					det = false
				}
			}
			return false
		})
	}
	return det
}

// Compile prepares the decision query over b. It fails when a module does not compile
// or when no module defines data.agentos.model.decision.
func Compile(ctx context.Context, b *Bundle) (rego.PreparedEvalQuery, error) {
	opts := []func(*rego.Rego){
		rego.Query(DecisionQuery),
		rego.Store(inmem.NewFromObject(b.Data)),
	}
	found := false
	for _, m := range b.Modules {
		opts = append(opts, rego.ParsedModule(m))
		if m.Package.Path.Equal(decisionPackage) {
			for _, r := range m.Rules {
				if r.Head.Name == "decision" || (len(r.Head.Reference) == 1 && r.Head.Reference[0].Value.Compare(ast.Var("decision")) == 0) {
					found = true
				}
			}
		}
	}
	if !found {
		return rego.PreparedEvalQuery{}, fmt.Errorf("no module defines %s (package agentos.model, rule decision)", DecisionQuery)
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return rego.PreparedEvalQuery{}, err
	}
	return pq, nil
}

// Status describes what an Engine serves.
type Status struct {
	// Source is "embedded" or the policy directory.
	Source   string
	Revision string
	LoadedAt time.Time
	// LastError is the last rejected reload's error ("" when the last reload succeeded),
	// at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
}

// Options configure an Engine.
type Options struct {
	// Dir is the policy directory; empty means Embedded.
	Dir string
	// Embedded is the default bundle (policy.Bundle).
	Embedded fs.FS
	Logger   *slog.Logger
	// OnReload, when set, is told about every reload attempt: the new revision, or the
	// error that rejected it.
	OnReload func(revision string, err error)
	// PollInterval is how often the directory is re-read in case a change event was
	// missed (0: 10s).
	PollInterval time.Duration
	// NoCache turns the decision cache off (benchmarks of the evaluation itself).
	NoCache bool
}

// Engine evaluates decisions against the current bundle and, for a directory, reloads
// it when files change.
type Engine struct {
	opts    Options
	current atomic.Pointer[compiled]

	mu          sync.Mutex // serialises reloads and guards the fields below
	lastErr     string
	lastErrAt   time.Time
	lastAttempt string // revision of the last bundle tried (good or bad)

	stop chan struct{}
	done chan struct{}
}

// New loads and compiles the bundle; an error here is a startup error.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 10 * time.Second
	}
	e := &Engine{opts: opts}
	c, err := e.load(ctx)
	if err != nil {
		return nil, err
	}
	e.current.Store(c)
	e.lastAttempt = c.revision
	return e, nil
}

func (e *Engine) source() fs.FS {
	if e.opts.Dir == "" {
		return e.opts.Embedded
	}
	return os.DirFS(e.opts.Dir)
}

func (e *Engine) sourceName() string {
	if e.opts.Dir == "" {
		return "embedded"
	}
	return e.opts.Dir
}

func (e *Engine) load(ctx context.Context) (*compiled, error) {
	b, err := LoadBundle(e.source(), false)
	if err != nil {
		return nil, fmt.Errorf("load policy from %s: %w", e.sourceName(), err)
	}
	pq, err := Compile(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("compile policy from %s: %w", e.sourceName(), err)
	}
	c := &compiled{query: pq, revision: b.Revision, loadedAt: time.Now().UTC()}
	if b.Deterministic() && !e.opts.NoCache {
		c.cache = newDecisionCache(decisionCacheSize)
		c.fields = b.InputFields()
	}
	return c, nil
}

// Reload re-reads the bundle. When it fails to load or compile, the previous bundle
// keeps serving and the error is returned (and kept in Status).
func (e *Engine) Reload(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rev, err := Revision(e.source()); err == nil {
		e.lastAttempt = rev
	}
	c, err := e.load(ctx)
	if err != nil {
		e.lastErr, e.lastErrAt = err.Error(), time.Now().UTC()
		e.opts.Logger.Error("policy reload rejected; the previous policy keeps serving",
			"source", e.sourceName(), "revision", e.current.Load().revision, "error", err)
		if e.opts.OnReload != nil {
			e.opts.OnReload("", err)
		}
		return err
	}
	e.lastErr, e.lastErrAt = "", time.Time{}
	if c.revision == e.current.Load().revision {
		return nil
	}
	e.current.Store(c)
	e.opts.Logger.Info("policy reloaded", "source", e.sourceName(), "revision", c.revision)
	if e.opts.OnReload != nil {
		e.opts.OnReload(c.revision, nil)
	}
	return nil
}

// Status returns what the engine serves.
func (e *Engine) Status() Status {
	c := e.current.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status{Source: e.sourceName(), Revision: c.revision, LoadedAt: c.loadedAt, LastError: e.lastErr, LastErrorAt: e.lastErrAt}
}

// Revision returns the revision being served.
func (e *Engine) Revision() string { return e.current.Load().revision }

// Evaluate decides in. An undefined or malformed decision is a deny whose reason says so;
// only an evaluation failure (a Rego runtime error, a cancelled ctx) is an error.
//
// A bundle that calls only deterministic built-ins gives equal inputs equal decisions,
// so its decisions are kept (bounded, per revision) and an equal input is answered
// from memory. The returned Reasons and Obligations are shared: do not modify them.
func (e *Engine) Evaluate(ctx context.Context, in Input) (Decision, error) {
	c := e.current.Load()
	var key string
	if c.cache != nil {
		key = in.cacheKey(c.fields)
		if d, ok := c.cache.get(key); ok {
			return d, nil
		}
	}
	rs, err := c.query.Eval(ctx, rego.EvalParsedInput(in.astValue()))
	if err != nil {
		return Decision{Revision: c.revision}, fmt.Errorf("evaluate policy %s: %w", c.revision, err)
	}
	d := Decision{Revision: c.revision}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		d.Reasons = []string{ReasonUndefined}
	} else {
		parseDecision(rs[0].Expressions[0].Value, &d)
	}
	if c.cache != nil {
		c.cache.put(key, d)
	}
	return d, nil
}

// parseDecision fills d from the decision document; anything malformed denies.
func parseDecision(v any, d *Decision) {
	m, ok := v.(map[string]any)
	if !ok {
		d.Reasons = []string{"policy decision is not an object"}
		return
	}
	allow, ok := m["allow"].(bool)
	if !ok {
		d.Reasons = []string{"policy decision has no boolean allow"}
		return
	}
	if rs, ok := m["reasons"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				d.Reasons = append(d.Reasons, s)
			} else {
				b, _ := json.Marshal(r)
				d.Reasons = append(d.Reasons, string(b))
			}
		}
	}
	if ob, ok := m["obligations"].(map[string]any); ok {
		d.Obligations = ob
	}
	d.Allow = allow
	if !allow && len(d.Reasons) == 0 {
		d.Reasons = []string{"denied by policy"}
	}
}

// astValue builds the Rego input directly (no JSON round trip), every field present.
func (in Input) astValue() ast.Value {
	labels := ast.NewObject()
	for k, v := range in.Tenant.Labels {
		labels.Insert(ast.StringTerm(k), ast.StringTerm(v))
	}
	return ast.NewObject(
		ast.Item(ast.StringTerm("tenant"), ast.NewTerm(ast.NewObject(
			ast.Item(ast.StringTerm("id"), ast.StringTerm(in.Tenant.ID)),
			ast.Item(ast.StringTerm("known"), ast.BooleanTerm(in.Tenant.Known)),
			ast.Item(ast.StringTerm("labels"), ast.NewTerm(labels)),
		))),
		ast.Item(ast.StringTerm("principal"), ast.NewTerm(ast.NewObject(
			ast.Item(ast.StringTerm("id"), ast.StringTerm(in.Principal.ID)),
			ast.Item(ast.StringTerm("roles"), stringArray(in.Principal.Roles)),
			ast.Item(ast.StringTerm("auth"), ast.StringTerm(in.Principal.Auth)),
		))),
		ast.Item(ast.StringTerm("operation"), ast.StringTerm(in.Operation)),
		ast.Item(ast.StringTerm("model"), ast.StringTerm(in.Model)),
		ast.Item(ast.StringTerm("tools"), stringArray(in.Tools)),
		ast.Item(ast.StringTerm("estimated_tokens"), ast.IntNumberTerm(int(in.EstimatedTokens))),
		ast.Item(ast.StringTerm("max_tokens"), ast.IntNumberTerm(int(in.MaxTokens))),
		ast.Item(ast.StringTerm("stream"), ast.BooleanTerm(in.Stream)),
		ast.Item(ast.StringTerm("tool"), ast.NewTerm(ast.NewObject(
			ast.Item(ast.StringTerm("name"), ast.StringTerm(in.Tool.Name)),
			ast.Item(ast.StringTerm("type"), ast.StringTerm(in.Tool.Type)),
			ast.Item(ast.StringTerm("server"), ast.StringTerm(in.Tool.Server)),
			ast.Item(ast.StringTerm("url"), ast.StringTerm(in.Tool.URL)),
			ast.Item(ast.StringTerm("scheme"), ast.StringTerm(in.Tool.Scheme)),
			ast.Item(ast.StringTerm("host"), ast.StringTerm(in.Tool.Host)),
			ast.Item(ast.StringTerm("port"), ast.IntNumberTerm(in.Tool.Port)),
		))),
		ast.Item(ast.StringTerm("run_id"), ast.StringTerm(in.RunID)),
		ast.Item(ast.StringTerm("agent_id"), ast.StringTerm(in.AgentID)),
	)
}

func stringArray(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

// Watch reloads a policy directory when its files change (fsnotify, debounced, with a
// periodic re-read as a safety net) until Close. It does nothing for the embedded bundle.
func (e *Engine) Watch() error {
	if e.opts.Dir == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy directory: %w", err)
	}
	if err := addTree(w, e.opts.Dir); err != nil {
		_ = w.Close()
		return fmt.Errorf("watch policy directory: %w", err)
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.watchLoop(w)
	return nil
}

func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return w.Add(p)
		}
		return nil
	})
}

const debounce = 150 * time.Millisecond

func (e *Engine) watchLoop(w *fsnotify.Watcher) {
	defer close(e.done)
	defer w.Close()
	poll := time.NewTicker(e.opts.PollInterval)
	defer poll.Stop()
	var fire <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case <-e.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					_ = addTree(w, ev.Name)
				}
			}
			if timer == nil {
				timer = time.NewTimer(debounce)
			} else {
				timer.Reset(debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			e.opts.Logger.Warn("policy directory watch error", "error", err)
		case <-fire:
			fire = nil
			_ = e.Reload(context.Background())
		case <-poll.C:
			e.pollOnce()
		}
	}
}

// pollOnce reloads when the files changed since the last attempt.
func (e *Engine) pollOnce() {
	rev, err := Revision(e.source())
	e.mu.Lock()
	same := err == nil && rev == e.lastAttempt
	e.mu.Unlock()
	if !same {
		_ = e.Reload(context.Background())
	}
}

// Close stops watching.
func (e *Engine) Close() {
	if e.stop == nil {
		return
	}
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	<-e.done
}

// EvaluateRaw decides an input document given as is (for `agentos policy eval`, where
// policy authors may pass fields beyond Input's).
func (e *Engine) EvaluateRaw(ctx context.Context, input map[string]any) (Decision, error) {
	c := e.current.Load()
	rs, err := c.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return Decision{Revision: c.revision}, fmt.Errorf("evaluate policy %s: %w", c.revision, err)
	}
	d := Decision{Revision: c.revision}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		d.Reasons = []string{ReasonUndefined}
		return d, nil
	}
	parseDecision(rs[0].Expressions[0].Value, &d)
	return d, nil
}
