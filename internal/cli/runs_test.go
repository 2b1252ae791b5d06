package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

var runIDLine = regexp.MustCompile(`^run_[a-z0-9]+$`)

func TestRunsCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createAgent(t, "a1")
	b.createAgent(t, "a2")

	// create prints the id; the same idempotency key answers the same run.
	out, code := b.cli(t, "runs", "create", "a1", "--input", "hi", "--metadata", "k=v", "--metadata", "list=a,b", "--timeout", "5m", "--idempotency-key", "key-1")
	require.Zero(t, code, out)
	id1 := strings.TrimSpace(out)
	require.Regexp(t, runIDLine, id1)

	out, code = b.cli(t, "runs", "create", "a1", "--input", "hi", "--metadata", "k=v", "--metadata", "list=a,b", "--timeout", "5m", "--idempotency-key", "key-1")
	require.Zero(t, code, out)
	require.Equal(t, id1, strings.SplitN(out, "\n", 2)[0])
	require.Contains(t, out, "an earlier request with this idempotency key created the run")

	input := filepath.Join(t.TempDir(), "input.txt")
	require.NoError(t, os.WriteFile(input, []byte("from a file\n"), 0o600))
	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	out, code = b.cli(t, "runs", "create", "a2", "--input-file", input, "--deadline", deadline.Format(time.RFC3339))
	require.Zero(t, code, out)
	id2 := strings.TrimSpace(out)
	require.Regexp(t, runIDLine, id2)

	// get prints the run as JSON.
	var run struct {
		RunID    string            `json:"run_id"`
		AgentID  string            `json:"agent_id"`
		Status   string            `json:"status"`
		Input    string            `json:"input"`
		Metadata map[string]string `json:"metadata"`
		Deadline time.Time         `json:"deadline"`
	}
	out, code = b.cli(t, "runs", "get", id1)
	require.Zero(t, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &run))
	require.Equal(t, id1, run.RunID)
	require.Equal(t, "queued", run.Status)
	require.Equal(t, "hi", run.Input)
	require.Equal(t, map[string]string{"k": "v", "list": "a,b"}, run.Metadata)
	require.WithinDuration(t, time.Now().Add(5*time.Minute), run.Deadline, time.Minute)

	out, code = b.cli(t, "runs", "get", id2)
	require.Zero(t, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &run))
	require.Equal(t, "from a file\n", run.Input)
	require.True(t, deadline.Equal(run.Deadline), "deadline %s, want %s", run.Deadline, deadline)

	out, code = b.cli(t, "runs", "get", id2, "-o", "yaml")
	require.Zero(t, code, out)
	require.Contains(t, out, "run_id: "+id2+"\n")
	require.Contains(t, out, "input: |\n  from a file\n")

	// list: newest first, filtered by agent and status, limited.
	out, code = b.cli(t, "runs", "list")
	require.Zero(t, code, out)
	require.Regexp(t, `^RUN\s+AGENT\s+STATUS\s+ATTEMPT\s+CREATED\n`+id2+`\s+a2\s+queued\s+0\s+\S+\n`+id1+`\s+a1\s+queued\s+0\s+\S+\n$`, out)

	out, code = b.cli(t, "runs", "list", "--agent", "a1")
	require.Zero(t, code, out)
	require.Contains(t, out, id1)
	require.NotContains(t, out, id2)

	out, code = b.cli(t, "runs", "list", "--limit", "1")
	require.Zero(t, code, out)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, out)
	require.Contains(t, out, id2)

	out, code = b.cli(t, "runs", "list", "--status", "running", "--status", "completed")
	require.Zero(t, code, out)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 1, out)

	out, code = b.cli(t, "runs", "list", "--status", "done")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `--status "done": want one of queued, running, cancelling, completed, failed, cancelled, timed_out`)

	// cancel prints the resulting status; a second cancel changes nothing.
	out, code = b.cli(t, "runs", "cancel", id1)
	require.Zero(t, code, out)
	require.Equal(t, "run "+id1+" cancelled\n", out)
	out, code = b.cli(t, "runs", "cancel", id1)
	require.Zero(t, code, out)
	require.Equal(t, "run "+id1+" cancelled\n", out)

	out, code = b.cli(t, "runs", "list", "--status", "cancelled")
	require.Zero(t, code, out)
	require.Contains(t, out, id1)
	require.NotContains(t, out, id2)

	// watch of a run that ended before --after prints its final status and exits 1.
	out, code = b.cli(t, "runs", "watch", id1, "--after", "99")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "run "+id1+" cancelled\n")

	// Errors.
	out, code = b.cli(t, "runs", "get", "run_nope")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "404 not_found")
	out, code = b.cli(t, "runs", "create", "nope", "--input", "x")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "404 not_found")
	out, code = b.cli(t, "runs", "create", "a1", "--deadline", "tomorrow")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `--deadline "tomorrow": want an RFC 3339 time`)
	out, code = b.cli(t, "runs", "create", "a1", "--deadline", deadline.Format(time.RFC3339), "--timeout", "1m")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "none of the others can be")
	out, code = b.cli(t, "runs", "watch", "run_nope")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "404 not_found")
}

// TestRunsCreateWaitAndWatch drives runs to their end as a worker while `runs create
// --wait` and `--watch` follow them.
func TestRunsCreateWaitAndWatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createAgent(t, "a1")

	type result struct {
		out  string
		code int
	}
	start := func(args ...string) <-chan result {
		done := make(chan result, 1)
		go func() {
			out, code := b.cli(t, args...)
			done <- result{out, code}
		}()
		return done
	}

	// --wait: completed, with the output.
	done := start("runs", "create", "a1", "--input", "q", "--wait")
	l, runID := b.leaseAny(t)
	_, err := b.worker.CompleteRun(t.Context(), &orchestratorapi.CompleteInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken, Output: "the answer"}, orchestratorapi.CompleteRunParams{RunID: runID})
	require.NoError(t, err)
	res := <-done
	require.Zero(t, res.code, res.out)
	require.Equal(t, string(runID)+"\nrun "+string(runID)+" completed\nthe answer\n", res.out)

	// --wait: failed, exit 1.
	done = start("runs", "create", "a1", "--input", "q", "--wait")
	l, runID = b.leaseAny(t)
	_, err = b.worker.FailRun(t.Context(), &orchestratorapi.FailInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken, Error: orchestratorapi.RunError{Code: "tool_error", Message: "boom"}}, orchestratorapi.FailRunParams{RunID: runID})
	require.NoError(t, err)
	res = <-done
	require.Equal(t, 1, res.code, res.out)
	require.Contains(t, res.out, "run "+string(runID)+" failed: tool_error: boom\n")

	// --watch: every event in the human form, then the final status.
	done = start("runs", "create", "a1", "--input", "q", "--watch")
	l, runID = b.leaseAny(t)
	b.appendDeltas(t, runID, l, 0, 2)
	_, err = b.worker.CompleteRun(t.Context(), &orchestratorapi.CompleteInput{LeaseID: l.LeaseID, FencingToken: l.FencingToken, Output: "tok0tok1"}, orchestratorapi.CompleteRunParams{RunID: runID})
	require.NoError(t, err)
	res = <-done
	require.Zero(t, res.code, res.out)
	require.Regexp(t, `^`+string(runID)+`
#1  run\.queued  agent_version=1 attempt=0
#2  run\.started  attempt=1 worker_id=w1
#3  model\.delta  tok0
#4  model\.delta  tok1
#5  run\.completed  .*
run `+string(runID)+` completed
$`, res.out)

	// watch --json of the ended run: its whole log as JSON lines, the status on stderr.
	var stdout, stderr syncBuffer
	code := Execute(t.Context(), []string{"runs", "watch", string(runID), "--json", "--orchestrator-url", b.url, "--tenant", b.tenant}, &stdout, &stderr, nil)
	require.Zero(t, code, stderr.String())
	require.Equal(t, "run "+string(runID)+" completed\n", stderr.String())
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	require.Len(t, lines, 5, stdout.String())
	for i, line := range lines {
		var ev orchestratorapi.RunEvent
		require.NoError(t, ev.UnmarshalJSON([]byte(line)), line)
		require.Equal(t, int64(i+1), ev.Seq)
		require.Equal(t, runID, ev.RunID)
	}
}
