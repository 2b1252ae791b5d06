// Package mcptest is an MCP server for tests of the worker's MCP tools, built with the
// MCP Go SDK. It serves the same tools over Streamable HTTP (an in-process httptest
// server) and over stdio, by re-executing the test binary: a test package calls
// ServeIfAsked first thing in its TestMain, and StdioServer gives the command and
// environment that make the re-executed binary serve instead of running tests.
// It is test infrastructure, like net/http/httptest; nothing in production imports it.
package mcptest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// EnvServe set to "stdio" makes ServeIfAsked serve over stdin/stdout and exit.
	EnvServe = "AGENTOS_MCPTEST_SERVE"
	// EnvPIDFile names a file the stdio server writes its process id to on start.
	EnvPIDFile = "AGENTOS_MCPTEST_PIDFILE"
)

// Tools are the names of the server's tools.
var Tools = []string{"echo", "add", "slow", "fail", "getenv"}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to send back"`
}

type addIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type slowIn struct {
	Seconds float64 `json:"seconds" jsonschema:"how long to wait"`
}

type failIn struct {
	Message string `json:"message"`
}

type getenvIn struct {
	Name string `json:"name"`
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// NewServer returns an MCP server with these tools:
//   - echo {text}: answers the text;
//   - add {a, b}: answers the sum;
//   - slow {seconds}: waits that long, or until the call is cancelled, and answers "done";
//   - fail {message}: a tool error (isError) carrying the message;
//   - getenv {name}: answers the server process's environment variable, or "(unset)".
func NewServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "agentos-mcptest", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Answers the text it is given."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, any, error) {
			return text(strconv.FormatFloat(in.A+in.B, 'g', -1, 64)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Waits, then answers done."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, any, error) {
			t := time.NewTimer(time.Duration(in.Seconds * float64(time.Second)))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-t.C:
				return text("done"), nil, nil
			}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails with the message."},
		func(_ context.Context, _ *mcp.CallToolRequest, in failIn) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New(in.Message)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "getenv", Description: "Answers an environment variable of the server process."},
		func(_ context.Context, _ *mcp.CallToolRequest, in getenvIn) (*mcp.CallToolResult, any, error) {
			v, ok := os.LookupEnv(in.Name)
			if !ok {
				v = "(unset)"
			}
			return text(v), nil, nil
		})
	return s
}

// NewHTTPServer serves NewServer over Streamable HTTP; its endpoint is the server's URL.
func NewHTTPServer() *httptest.Server {
	s := NewServer()
	return httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
}

// StdioServer is the command and environment of an MCP tool entry whose server is this
// test binary serving NewServer over stdio (see ServeIfAsked).
func StdioServer() (command []string, env map[string]string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	return []string{exe}, map[string]string{EnvServe: "stdio"}, nil
}

// ServeIfAsked serves NewServer over stdin/stdout and exits when EnvServe is "stdio";
// otherwise it returns at once. Call it first in TestMain.
func ServeIfAsked() {
	if os.Getenv(EnvServe) != "stdio" {
		return
	}
	if path := os.Getenv(EnvPIDFile); path != "" {
		if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "mcptest: write pid file:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := NewServer().Run(ctx, &mcp.StdioTransport{}); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "mcptest:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
