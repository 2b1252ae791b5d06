package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const repoRoot = "../../.."

func TestRunSelectedChecks(t *testing.T) {
	t.Parallel()

	var stdout, stderr bytes.Buffer
	code := run([]string{"-root", repoRoot, "-only", "lint, headers,breaking"}, &stdout, &stderr)
	require.Equal(t, 0, code, stdout.String()+stderr.String())
	require.Equal(t, "ok   lint\nok   headers\nok   breaking\n", stdout.String())
}

func TestRunReportsFailures(t *testing.T) {
	t.Parallel()

	root := t.TempDir()
	gen := filepath.Join(root, "gen", "orchestratorapi")
	require.NoError(t, os.MkdirAll(gen, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(gen, "a.go"), []byte("package orchestratorapi\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(gen, "b.txt"), []byte("x\n"), 0o644))

	var stdout, stderr bytes.Buffer
	code := run([]string{"-root", root, "-only", "headers"}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stdout.String(), "FAIL headers: "+filepath.Join(gen, "a.go")+": first line is not")
	require.Contains(t, stdout.String(), "\n     "+filepath.Join(gen, "b.txt")+": not a Go file")
}

func TestRunUpdateBaseline(t *testing.T) {
	t.Parallel()

	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "spec", "components"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "spec", "components", "common.yaml"), []byte("openapi: 3.1.0\n"), 0o644))

	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-root", root, "-update-baseline"}, &stdout, &stderr), stderr.String())
	require.FileExists(t, filepath.Join(root, "spec", "baseline", "components", "common.yaml"))
}

func TestRunRejectsUnknownCheck(t *testing.T) {
	t.Parallel()

	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"-only", "nope"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), `unknown check "nope"`)
}
