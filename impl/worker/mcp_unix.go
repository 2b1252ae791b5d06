//go:build unix

package worker

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts a stdio MCP server in a process group of its own, so that the
// processes it starts can be stopped with it and a terminal's signals do not reach it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// processGroup is the started command's process group (its pid, by setProcessGroup).
func processGroup(cmd *exec.Cmd) int {
	if cmd.Process == nil {
		return 0
	}
	return cmd.Process.Pid
}

// killProcessGroup kills what is left of a stdio MCP server's process group once the
// server itself has exited.
func killProcessGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
