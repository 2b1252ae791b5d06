//go:build !unix

package worker

import "os/exec"

func setProcessGroup(*exec.Cmd)  {}
func processGroup(*exec.Cmd) int { return 0 }
func killProcessGroup(int)       {}
