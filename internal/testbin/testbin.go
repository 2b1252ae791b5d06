// Package testbin runs the agentos binary as child processes, for tests that need real
// processes: crash tests that kill -9 a service or a worker, multi-process tests.
package testbin

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Agentos builds the agentos binary once per test binary and returns its path.
var Agentos = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "agentos-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "agentos")
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/agentos")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testbin: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Process is one agentos child process. Its output goes to the test's stderr when
// AGENTOS_TEST_LOG is set.
type Process struct {
	T    testing.TB
	Bin  string
	Args []string
	Env  []string
	cmd  *exec.Cmd
}

// Start starts the process; when ready is not empty it waits until GET ready answers 200.
func (p *Process) Start(ready string) {
	p.T.Helper()
	p.cmd = exec.Command(p.Bin, p.Args...)
	p.cmd.Env = append(os.Environ(), p.Env...)
	if os.Getenv("AGENTOS_TEST_LOG") != "" {
		p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := p.cmd.Start(); err != nil {
		p.T.Fatalf("testbin: start %v: %v", p.Args, err)
	}
	if ready == "" {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("testbin: %v did not become ready at %s", p.Args, ready)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill9 kills the process with SIGKILL and reaps it; a process not started or already
// reaped is left alone.
func (p *Process) Kill9() {
	if p.cmd == nil || p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then kills it.
// It returns the process's exit error, if any.
func (p *Process) Stop(grace time.Duration) error {
	if p.cmd == nil || p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(grace):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return fmt.Errorf("testbin: %v did not stop within %s", p.Args, grace)
	}
}
