package worker

// MCP tools: an agent's tool entry of type mcp names an MCP server (stdio or Streamable
// HTTP). For each run the worker connects to every such server, lists its tools, offers
// them to the model as function tools, dispatches the model's calls to the right session,
// and closes the sessions when the run ends. See docs/design/0003-worker.md, "MCP tools".

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/buildinfo"
)

const (
	// mcpNameSep joins an entry's name and a server's tool name into the name offered
	// to the model.
	mcpNameSep = "__"
	// maxToolName is the longest function name (the spec's Tool.name pattern and
	// OpenAI's limit).
	maxToolName = 64
	// mcpMaxResult bounds the text of one MCP tool result; more is cut with a note,
	// so that the tool.result event and the next model call stay a sane size.
	mcpMaxResult = 256 << 10
	// mcpTerminateWait is how long closing a stdio session waits for the server to exit
	// after its stdin is closed, before SIGTERM (and as long again before SIGKILL).
	mcpTerminateWait = 2 * time.Second
)

var validToolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// mcpInheritedEnv are the variables of the worker's own environment a stdio MCP server
// gets when Config.MCPEnv is nil: enough to find programs and a home directory, and
// nothing else (no worker token, no provider keys).
var mcpInheritedEnv = []string{"PATH", "HOME", "TMPDIR", "LANG"}

// defaultMCPEnv is the base environment of stdio MCP servers when Config.MCPEnv is nil.
// It reads the worker process's own environment: not configuration, but what a child
// process needs to run at all.
func defaultMCPEnv() []string {
	var env []string
	for _, k := range mcpInheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// mcpError is an MCP server of the agent that could not be started, connected to or
// listed; it fails the run with code mcp_error.
type mcpError struct {
	entry string // the agent's tool entry naming the server
	err   error
}

func (e *mcpError) Error() string { return fmt.Sprintf("MCP server %q: %v", e.entry, e.err) }
func (e *mcpError) Unwrap() error { return e.err }

// mcpTool is one tool of an MCP server, as offered to the model.
type mcpTool struct {
	name   string // offered to the model
	remote string // the server's name for it
	conn   *mcpConn
	schema *jsonschema.Schema // nil: any arguments
	def    toolDef
}

// mcpConn is one run's session with one MCP server.
type mcpConn struct {
	entry   string
	session *mcp.ClientSession
	// pgid is a stdio server's process group (0 for http), killed after the session
	// closes (which waits for the server itself) so that no process the server started
	// outlives the run. A session that fails to come up is closed by the SDK.
	pgid int
	// transport is the http client's transport, whose idle connections are closed.
	transport *http.Transport
}

// mcpSet is a run's MCP sessions and the tools they offer, by offered name.
type mcpSet struct {
	conns []*mcpConn
	tools map[string]*mcpTool
	defs  []toolDef
}

// openMCP connects to the agent's MCP servers, all at once, and lists their tools. The
// sessions it opened are kept in rs.mcp for closeMCP even when it fails.
func (rs *runState) openMCP() ([]toolDef, error) {
	var entries []orchestratorapi.Tool
	taken := map[string]bool{}
	for _, t := range rs.lr.Agent.Tools {
		if t.Type.Or(orchestratorapi.ToolTypeFunction) == orchestratorapi.ToolTypeMcp {
			entries = append(entries, t)
		} else {
			taken[t.Name] = true
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	set := &mcpSet{tools: map[string]*mcpTool{}}
	rs.mcp = set
	conns := make([]*mcpConn, len(entries))
	listed := make([][]*mcp.Tool, len(entries))
	errs := make([]error, len(entries))
	logger := rs.w.logger.With("run_id", rs.lr.Run.RunID)
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(rs.ctx, rs.w.cfg.MCPConnectTimeout)
			defer cancel()
			conns[i], listed[i], errs[i] = rs.w.connectMCP(ctx, logger, e)
		})
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			set.conns = append(set.conns, c)
		}
	}
	if err := rs.ctx.Err(); err != nil {
		return nil, err
	}
	for i, e := range entries {
		if errs[i] != nil {
			return nil, &mcpError{entry: e.Name, err: errs[i]}
		}
		if err := set.add(e, conns[i], listed[i], taken); err != nil {
			return nil, &mcpError{entry: e.Name, err: err}
		}
	}
	return set.defs, nil
}

// connectMCP starts or dials an entry's server, initializes the session and lists the
// server's tools.
func (w *Worker) connectMCP(ctx context.Context, logger *slog.Logger, e orchestratorapi.Tool) (*mcpConn, []*mcp.Tool, error) {
	m, ok := e.Mcp.Get()
	if !ok {
		return nil, nil, errors.New("the tool entry names no server")
	}
	c := &mcpConn{entry: e.Name}
	var (
		transport mcp.Transport
		stderr    *logWriter
	)
	switch m.Transport {
	case orchestratorapi.McpServerTransportStdio:
		if len(m.Command) == 0 {
			return nil, nil, errors.New("no command")
		}
		cmd := exec.Command(m.Command[0], m.Command[1:]...)
		cmd.Env = append(slices.Clone(w.cfg.MCPEnv), envList(m.Env.Or(nil))...)
		stderr = &logWriter{logger: logger.With("mcp_server", e.Name)}
		cmd.Stderr = stderr
		// Wait stops waiting for stderr to reach EOF this long after the server
		// exits, when a process it started still holds it open.
		cmd.WaitDelay = mcpTerminateWait
		setProcessGroup(cmd)
		transport = &startedCommand{CommandTransport: mcp.CommandTransport{Command: cmd, TerminateDuration: mcpTerminateWait}, conn: c}
	case orchestratorapi.McpServerTransportHTTP:
		url, ok := m.URL.Get()
		if !ok || url == "" {
			return nil, nil, errors.New("no url")
		}
		c.transport = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     30 * time.Second,
		}
		transport = &mcp.StreamableClientTransport{
			Endpoint: url, HTTPClient: &http.Client{Transport: c.transport},
			// The worker makes requests and reads their answers; it listens for nothing
			// the server might push, so it opens no standing GET stream.
			DisableStandaloneSSE: true,
			MaxRetries:           2,
		}
	default:
		return nil, nil, fmt.Errorf("unknown transport %q", m.Transport)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "agentos-worker", Version: buildinfo.Version()}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	session, err := client.Connect(ctx, transport, nil)
	if err != nil {
		c.close() // a started process is stopped
		if tail := stderr.last(); tail != "" {
			return nil, nil, fmt.Errorf("connect: %w (its stderr ends: %q)", err, tail)
		}
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	c.session = session
	var tools []*mcp.Tool
	for t, err := range session.Tools(ctx, nil) {
		if err != nil {
			return c, nil, fmt.Errorf("list tools: %w", err)
		}
		tools = append(tools, t)
	}
	return c, tools, nil
}

// add offers the listed tools of an entry's server that its filter lets through.
func (s *mcpSet) add(e orchestratorapi.Tool, c *mcpConn, tools []*mcp.Tool, taken map[string]bool) error {
	m, _ := e.Mcp.Get()
	byName := map[string]*mcp.Tool{}
	for _, t := range tools {
		byName[t.Name] = t
	}
	names := m.Tools
	if len(names) == 0 {
		for _, t := range tools {
			names = append(names, t.Name)
		}
	}
	for _, remote := range names {
		t, ok := byName[remote]
		if !ok {
			return fmt.Errorf("the server has no tool %q (named by the entry's tools filter; it has: %s)", remote, strings.Join(sortedKeys(byName), ", "))
		}
		name, err := mcpToolName(e.Name, remote, taken)
		if err != nil {
			return err
		}
		taken[name] = true
		tool := &mcpTool{name: name, remote: remote, conn: c}
		tool.def.Type = "function"
		tool.def.Function.Name = name
		tool.def.Function.Description = t.Description
		if t.InputSchema != nil {
			raw, err := json.Marshal(t.InputSchema)
			if err != nil {
				return fmt.Errorf("tool %q: encode its input schema: %w", remote, err)
			}
			if tool.schema, err = compileSchema(name, raw); err != nil {
				return fmt.Errorf("tool %q: %w", remote, err)
			}
			tool.def.Function.Parameters = raw
		}
		s.tools[name] = tool
		s.defs = append(s.defs, tool.def)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mcpToolName is the name under which an entry's server tool is offered to the model:
// ENTRY__TOOL. When that is not a valid function name (a character outside
// [A-Za-z0-9_-], or longer than 64) or is already taken (by another tool of the agent
// or an earlier MCP tool), the characters outside the set become "_", the name is cut
// to 55 and "_" and 8 hex digits of SHA-256(ENTRY NUL TOOL) are appended: still
// readable, stable for the same entry and tool, and distinct.
func mcpToolName(entry, remote string, taken map[string]bool) (string, error) {
	name := entry + mcpNameSep + remote
	if validToolName.MatchString(name) && !taken[name] {
		return name, nil
	}
	sum := sha256.Sum256([]byte(entry + "\x00" + remote))
	suffix := "_" + hex.EncodeToString(sum[:4])
	clean := []byte(name)
	for i, b := range clean {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			clean[i] = '_'
		}
	}
	name = string(clean[:min(len(clean), maxToolName-len(suffix))]) + suffix
	if taken[name] {
		return "", fmt.Errorf("tool %q: its name %q collides with another tool of the agent", remote, name)
	}
	return name, nil
}

// tool returns the MCP tool offered under name, if any.
func (s *mcpSet) tool(name string) (*mcpTool, bool) {
	if s == nil {
		return nil, false
	}
	t, ok := s.tools[name]
	return t, ok
}

// callMCP calls an MCP tool with the model's arguments, checked against the tool's
// input schema first. A failed call and an isError result are errors, which the agent
// loop hands to the model as the tool's result; a stop of the run cancels the call.
func (rs *runState) callMCP(t *mcpTool, arguments string) (string, error) {
	if strings.TrimSpace(arguments) == "" {
		arguments = "{}"
	}
	if t.schema != nil {
		if err := checkArguments(t.name, t.schema, arguments); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(rs.ctx, rs.w.cfg.MCPCallTimeout)
	defer cancel()
	res, err := t.conn.session.CallTool(ctx, &mcp.CallToolParams{Name: t.remote, Arguments: json.RawMessage(arguments)})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && rs.ctx.Err() == nil {
			return "", fmt.Errorf("MCP server %q did not answer %s within %s", t.conn.entry, t.remote, rs.w.cfg.MCPCallTimeout)
		}
		return "", fmt.Errorf("call %s on MCP server %q: %w", t.remote, t.conn.entry, err)
	}
	out := resultText(res)
	if res.IsError {
		if out == "" {
			out = "the tool reported an error"
		}
		return "", errors.New(out)
	}
	return out, nil
}

// resultText is a tool result as text for the model: the text parts joined by
// newlines, a note for each other part, else the structured content as JSON.
func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s]", c.URI))
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				parts = append(parts, c.Resource.Text)
			} else if c.Resource != nil {
				parts = append(parts, fmt.Sprintf("[resource %s]", c.Resource.URI))
			}
		}
	}
	out := strings.Join(parts, "\n")
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			out = string(b)
		}
	}
	if len(out) > mcpMaxResult {
		out = fmt.Sprintf("%s\n[truncated: the result had %d bytes]", out[:mcpMaxResult], len(out))
	}
	return out
}

// closeMCP ends the run's MCP sessions, all at once: a stdio server's stdin is closed
// and it is waited for (then signalled), an http session is deleted.
func (rs *runState) closeMCP() {
	if rs.mcp == nil {
		return
	}
	var wg sync.WaitGroup
	for _, c := range rs.mcp.conns {
		wg.Go(c.close)
	}
	wg.Wait()
}

func (c *mcpConn) close() {
	if c.session != nil {
		_ = c.session.Close()
	}
	if c.pgid > 0 {
		killProcessGroup(c.pgid)
	}
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}

// startedCommand is a CommandTransport that records the started process's group, so
// that it can be stopped even when the session never comes up.
type startedCommand struct {
	mcp.CommandTransport
	conn *mcpConn
}

func (t *startedCommand) Connect(ctx context.Context) (mcp.Connection, error) {
	conn, err := t.CommandTransport.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", t.Command.Path, err)
	}
	t.conn.pgid = processGroup(t.Command)
	return conn, nil
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// logWriter logs what a stdio MCP server writes to its stderr, a line at a time, and
// keeps the last line for the error of a server that does not come up.
type logWriter struct {
	logger *slog.Logger
	mu     sync.Mutex
	buf    []byte
	tail   string
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := slices.Index(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 4096 { // an endless line is logged in pieces
		l.line(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *logWriter) line(s string) {
	l.logger.Info("mcp server stderr", "line", s)
	if s = strings.TrimSpace(s); s != "" {
		l.tail = s[:min(len(s), 512)]
	}
}

// last is the last non-empty line written so far (nil-safe).
func (l *logWriter) last() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := strings.TrimSpace(string(l.buf)); s != "" {
		return s[:min(len(s), 512)]
	}
	return l.tail
}
