package generators_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/generators"
)

// TestGenerateLinesMatchServices keeps the ogen go:generate lines of generate.go and the
// Services table that generators/verify regenerates from in step.
func TestGenerateLinesMatchServices(t *testing.T) {
	t.Parallel()

	f, err := os.Open("generate.go")
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })

	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "//go:generate ")
		if !ok {
			continue
		}
		line := strings.Join(strings.Fields(rest), " ")
		if strings.HasPrefix(line, "go tool ogen ") {
			lines = append(lines, line)
		}
	}
	require.NoError(t, sc.Err())

	want := make([]string, 0, len(generators.Services))
	for _, s := range generators.Services {
		args := s.OgenArgs("../gen/"+s.Package, "../spec")
		want = append(want, "go tool ogen "+strings.Join(args, " "))
	}
	require.Equal(t, want, lines, "go:generate lines in generate.go and generators.Services disagree")
}

func TestServicesAreUnique(t *testing.T) {
	t.Parallel()

	names := map[string]bool{}
	pkgs := map[string]bool{}
	for _, s := range generators.Services {
		require.False(t, names[s.Name], "duplicate service name %q", s.Name)
		require.False(t, pkgs[s.Package], "duplicate package %q", s.Package)
		require.Equal(t, s.Name+"api", s.Package, "generated packages are named <svc>api")
		names[s.Name], pkgs[s.Package] = true, true
	}
}
