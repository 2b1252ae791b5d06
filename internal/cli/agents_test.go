package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAgentsCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}

	// apply: created, unchanged (an identical PUT keeps the version), updated.
	v1 := file("support.yaml", "id: support\nmodel: m1\ninstructions: Be brief.\nlabels: {team: core}\n")
	out, code := b.cli(t, "agents", "apply", "-f", v1)
	require.Zero(t, code, out)
	require.Equal(t, "created agent support version 1\n", out)

	out, code = b.cli(t, "agents", "apply", "-f", v1)
	require.Zero(t, code, out)
	require.Equal(t, "unchanged agent support version 1\n", out)

	v2 := file("support-v2.json", `{"agent_id": "support", "model": "m2", "instructions": "Be brief.", "labels": {"team": "core"}}`)
	out, code = b.cli(t, "agents", "apply", "-f", v2)
	require.Zero(t, code, out)
	require.Equal(t, "updated agent support version 2\n", out)

	// apply -f - reads stdin.
	var stdout syncBuffer
	root := NewRoot(&stdout, &stdout, nil)
	root.SetIn(strings.NewReader("id: billing\nmodel: m1\nlabels: {team: edge}\n"))
	root.SetArgs([]string{"agents", "apply", "-f", "-", "--orchestrator-url", b.url, "--tenant", b.tenant})
	require.NoError(t, root.ExecuteContext(t.Context()))
	require.Equal(t, "created agent billing version 1\n", stdout.String())

	// Strict decoding: unknown keys are named, and nothing is sent.
	bad := file("bad.yaml", "id: typo\nmodle: m1\nlimits: {max_step: 3}\n")
	out, code = b.cli(t, "agents", "apply", "-f", bad)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "unknown keys: modle (line 2), limits.max_step (line 3)")
	out, code = b.cli(t, "agents", "get", "typo")
	require.Equal(t, 1, code, out)

	// A definition the server rejects is reported with the problem's code.
	out, code = b.cli(t, "agents", "apply", "-f", file("builtin.yaml", "id: x\nmodel: m\ntools: [{name: nope, type: builtin}]\n"))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "400 invalid_argument")

	// list, with and without a label selector.
	out, code = b.cli(t, "agents", "list", "--label", "team=core")
	require.Zero(t, code, out)
	require.Regexp(t, `^ID\s+VERSION\s+MODEL\s+LABELS\s+UPDATED\n`, out)
	require.Regexp(t, `(?m)^support\s+2\s+m2\s+team=core\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, out)
	require.NotContains(t, out, "billing")

	out, code = b.cli(t, "agents", "list")
	require.Zero(t, code, out)
	require.Regexp(t, `(?m)^support\s`, out)
	require.Regexp(t, `(?m)^billing\s+1\s+m1\s+team=edge\s`, out)

	out, code = b.cli(t, "agents", "list", "--label", "team")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `--label "team": want KEY=VALUE`)

	// get: the latest version, a given version, YAML.
	var agent struct {
		AgentID string `json:"agent_id"`
		Version int64  `json:"version"`
		Model   string `json:"model"`
	}
	out, code = b.cli(t, "agents", "get", "support")
	require.Zero(t, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &agent))
	require.Equal(t, int64(2), agent.Version)
	require.Equal(t, "m2", agent.Model)

	out, code = b.cli(t, "agents", "get", "support", "--version", "1")
	require.Zero(t, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &agent))
	require.Equal(t, int64(1), agent.Version)
	require.Equal(t, "m1", agent.Model)

	out, code = b.cli(t, "agents", "get", "support", "-o", "yaml")
	require.Zero(t, code, out)
	require.Regexp(t, `(?m)^agent_id: support\nversion: 2\nmodel: m2\n`, out)

	out, code = b.cli(t, "agents", "get", "support", "--version", "7")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "404 not_found")

	// delete, then get is a not_found.
	out, code = b.cli(t, "agents", "delete", "support")
	require.Zero(t, code, out)
	require.Equal(t, "deleted agent support\n", out)

	out, code = b.cli(t, "agents", "get", "support")
	require.NotZero(t, code, out)
	require.Regexp(t, regexp.MustCompile(`404 not_found: agent "support" not found`), out)

	out, code = b.cli(t, "agents", "delete", "support")
	require.NotZero(t, code, out)
	require.Contains(t, out, "not_found")
}
