package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/worker/mcptest"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

// TestMain lets the test binary serve as the stdio MCP test server (mcptest.StdioServer).
func TestMain(m *testing.M) {
	mcptest.ServeIfAsked()
	os.Exit(m.Run())
}

// workerNode is a node with an embedded worker, for the scenarios that need runs
// executed; the suite's main node has none, so that its test workers lease every run.
type workerNode struct {
	client *orchestratorapi.Client
}

// mcpScenario is an MCP scenario's state.
type mcpScenario struct {
	node      *workerNode
	run       *orchestratorapi.Run
	runID     orchestratorapi.RunId
	pidFile   string
	cancelled time.Time
	servers   []*httptest.Server
}

func (e *environment) workerNode() (*workerNode, error) {
	if !e.inProcess {
		return nil, errors.New("needs the in-process deployment")
	}
	e.workerNodeOnce.Do(func() {
		cfg := config.Defaults()
		cfg.DataDir = filepath.Join(e.tmp, "worker-node")
		cfg.OrchestratorAddr, cfg.ModelPolicyAddr, cfg.FederationAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.AuditSink = "none"
		cfg.AdminToken = "adm_" + randomHex(16)
		cfg.Workers = 1
		if e.pgBaseURL != "" {
			u, drop, err := createSchema(e.pgBaseURL)
			if err != nil {
				e.workerNodeErr = err
				return
			}
			e.atExit(drop) // after the node stops (exits run newest first)
			cfg.DatabaseURL = u
		}
		if err := cfg.Validate(); err != nil {
			e.workerNodeErr = err
			return
		}
		node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{})
		if err != nil {
			e.workerNodeErr = err
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = node.Serve(ctx); close(done) }()
		e.atExit(func() { cancel(); <-done })
		c, err := orchestratorapi.NewClient(node.URL(platform.Orchestrator), creds{tenant: cfg.DefaultTenant})
		if err != nil {
			e.workerNodeErr = err
			return
		}
		e.workerNodeVal = &workerNode{client: c}
	})
	return e.workerNodeVal, e.workerNodeErr
}

func (w *world) registerMCP(sc *godog.ScenarioContext) {
	m := &w.mcp
	sc.After(func(ctx context.Context, _ *godog.Scenario, _ error) (context.Context, error) {
		for _, s := range m.servers {
			s.Close()
		}
		return ctx, nil
	})
	sc.Step(`^a node with an embedded worker$`, func() error {
		n, err := w.env.workerNode()
		m.node = n
		return err
	})
	putAgent := func(agent string, tool orchestratorapi.Tool) error {
		_, err := m.node.client.PutAgent(context.Background(), &orchestratorapi.AgentInput{Model: "builtin-chat", Tools: []orchestratorapi.Tool{tool}},
			orchestratorapi.PutAgentParams{AgentID: orchestratorapi.AgentId(agent)})
		return err
	}
	entry := func(name, transport string, filter []string) (orchestratorapi.Tool, error) {
		server := orchestratorapi.McpServer{Tools: filter}
		switch transport {
		case "stdio":
			command, env, err := mcptest.StdioServer()
			if err != nil {
				return orchestratorapi.Tool{}, err
			}
			dir, err := os.MkdirTemp(w.env.tmpDir(), "mcp")
			if err != nil {
				return orchestratorapi.Tool{}, err
			}
			m.pidFile = filepath.Join(dir, "pid")
			env[mcptest.EnvPIDFile] = m.pidFile
			server.Transport, server.Command, server.Env = orchestratorapi.McpServerTransportStdio, command, orchestratorapi.NewOptStringMap(env)
		case "Streamable HTTP":
			s := mcptest.NewHTTPServer()
			m.servers = append(m.servers, s)
			server.Transport, server.URL = orchestratorapi.McpServerTransportHTTP, orchestratorapi.NewOptString(s.URL)
		default:
			return orchestratorapi.Tool{}, fmt.Errorf("unknown transport %q", transport)
		}
		return orchestratorapi.Tool{Name: name, Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp), Mcp: orchestratorapi.NewOptMcpServer(server)}, nil
	}
	sc.Step(`^the agent "([^"]*)" has the tool entry "([^"]*)": the test MCP server over (stdio|Streamable HTTP)$`, func(agent, name, transport string) error {
		t, err := entry(name, transport, nil)
		if err != nil {
			return err
		}
		return putAgent(agent, t)
	})
	sc.Step(`^the agent "([^"]*)" has the tool entry "([^"]*)": the test MCP server over (stdio|Streamable HTTP), only its tools "([^"]*)"$`, func(agent, name, transport, tools string) error {
		t, err := entry(name, transport, strings.Split(tools, ","))
		if err != nil {
			return err
		}
		return putAgent(agent, t)
	})
	sc.Step(`^the agent "([^"]*)" has the tool entry "([^"]*)": a stdio command that does not exist$`, func(agent, name string) error {
		return putAgent(agent, orchestratorapi.Tool{Name: name, Type: orchestratorapi.NewOptToolType(orchestratorapi.ToolTypeMcp),
			Mcp: orchestratorapi.NewOptMcpServer(orchestratorapi.McpServer{Transport: orchestratorapi.McpServerTransportStdio,
				Command: []string{filepath.Join(w.env.tmpDir(), "no-such-mcp-server")}})})
	})
	start := func(agent, input string) error {
		res, err := m.node.client.CreateRun(context.Background(), &orchestratorapi.RunInput{Input: input}, orchestratorapi.CreateRunParams{AgentID: orchestratorapi.AgentId(agent)})
		if err != nil {
			return err
		}
		m.runID, m.run = res.Response.RunID, nil
		return nil
	}
	run := func(agent, input string) error {
		if err := start(agent, input); err != nil {
			return err
		}
		r, err := m.node.client.WaitRun(context.Background(), orchestratorapi.WaitRunParams{RunID: m.runID, Timeout: orchestratorapi.NewOptString("30s")})
		m.run = r
		return err
	}
	sc.Step(`^the agent "([^"]*)" runs with the line "([^"]*)" and arguments (\{.*\})$`, func(agent, line, args string) error {
		return run(agent, line+" "+args)
	})
	sc.Step(`^the agent "([^"]*)" runs with the input "([^"]*)"$`, run)
	sc.Step(`^the agent "([^"]*)" starts with the line "([^"]*)" and arguments (\{.*\})$`, func(agent, line, args string) error {
		return start(agent, line+" "+args)
	})
	sc.Step(`^I cancel the MCP run once the tool is called$`, func() error {
		deadline := time.Now().Add(20 * time.Second)
		for {
			events, err := m.toolEvents()
			if err != nil {
				return err
			}
			if len(events) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("the tool was never called")
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // the call reaches the server
		m.cancelled = time.Now()
		_, err := m.node.client.CancelRun(context.Background(), orchestratorapi.CancelRunParams{RunID: m.runID})
		return err
	})
	sc.Step(`^the MCP run is "([^"]*)" within (\d+) seconds? of the cancel$`, func(status string, secs int) error {
		r, err := m.node.client.WaitRun(context.Background(), orchestratorapi.WaitRunParams{RunID: m.runID, Timeout: orchestratorapi.NewOptString("10s")})
		if err != nil {
			return err
		}
		elapsed := time.Since(m.cancelled)
		if string(r.Status) != status {
			return fmt.Errorf("run is %s (%+v), want %s", r.Status, r.Error, status)
		}
		if elapsed >= time.Duration(secs)*time.Second {
			return fmt.Errorf("the run was %s %s after the cancel, want within %d s", status, elapsed, secs)
		}
		return nil
	})
	sc.Step(`^the MCP run is "([^"]*)" with output "([^"]*)"$`, func(status, output string) error {
		if err := m.runIs(status); err != nil {
			return err
		}
		if got := m.run.Output.Or(""); got != output {
			return fmt.Errorf("output %q, want %q", got, output)
		}
		return nil
	})
	sc.Step(`^the MCP run is "([^"]*)" with an output containing "([^"]*)"$`, func(status, part string) error {
		if err := m.runIs(status); err != nil {
			return err
		}
		if got := m.run.Output.Or(""); !strings.Contains(got, part) {
			return fmt.Errorf("output %q does not contain %q", got, part)
		}
		return nil
	})
	sc.Step(`^the MCP run is "([^"]*)" with error code "([^"]*)" naming the entry "([^"]*)"$`, func(status, code, entry string) error {
		if err := m.runIs(status); err != nil {
			return err
		}
		e, ok := m.run.Error.Get()
		part := fmt.Sprintf("MCP server %q", entry)
		if !ok || e.Code != code || !strings.Contains(e.Message, part) {
			return fmt.Errorf("run error %+v, want code %q and a message containing %q", e, code, part)
		}
		return nil
	})
	sc.Step(`^the MCP run's tool events are:$`, func(table *godog.Table) error {
		got, err := m.toolEvents()
		if err != nil {
			return err
		}
		var want []string
		for _, row := range table.Rows[1:] {
			want = append(want, row.Cells[0].Value+" "+row.Cells[1].Value+" "+row.Cells[2].Value)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Errorf("tool events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return nil
	})
	sc.Step(`^the stdio MCP server has exited$`, func() error {
		b, err := os.ReadFile(m.pidFile)
		if err != nil {
			return fmt.Errorf("the stdio server never started: %w", err)
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil {
			return err
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if syscall.Kill(pid, 0) == syscall.ESRCH {
				return nil
			}
		}
		return fmt.Errorf("the stdio MCP server (pid %d) is still there 10 s after the run", pid)
	})
}

func (m *mcpScenario) runIs(status string) error {
	if m.run == nil {
		return errors.New("no run finished")
	}
	if string(m.run.Status) != status {
		return fmt.Errorf("run is %s (error %+v, output %q), want %s", m.run.Status, m.run.Error, m.run.Output.Or(""), status)
	}
	return nil
}

// toolEvents are the run's tool.call and tool.result events as "TYPE NAME DATA": the
// call's arguments as compact JSON, the result's content.
func (m *mcpScenario) toolEvents() ([]string, error) {
	page, err := m.node.client.GetRunEvents(context.Background(), orchestratorapi.GetRunEventsParams{RunID: m.runID,
		Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON), Limit: orchestratorapi.NewOptInt32(1000)})
	if err != nil {
		return nil, err
	}
	p, ok := page.(*orchestratorapi.RunEventPage)
	if !ok {
		return nil, fmt.Errorf("events: %T", page)
	}
	var out []string
	for _, e := range p.Events {
		var name, data string
		switch e.Type {
		case "tool.call":
			var args any
			if err := json.Unmarshal(e.Data["arguments"], &args); err != nil {
				return nil, err
			}
			b, _ := json.Marshal(args)
			data = string(b)
		case "tool.result":
			if err := json.Unmarshal(e.Data["content"], &data); err != nil {
				return nil, err
			}
		default:
			continue
		}
		if err := json.Unmarshal(e.Data["name"], &name); err != nil {
			return nil, err
		}
		out = append(out, e.Type+" "+name+" "+data)
	}
	return out, nil
}
