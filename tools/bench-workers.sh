#!/usr/bin/env bash
# End-to-end benchmarks of workers (tools/loadtest -scenario agents|worker-memory): the
# whole platform (`agentos serve --workers 0`) on PostgreSQL (a fresh database
# agentos_bench on 127.0.0.1) with real `agentos worker` processes executing agent loops
# through Model Policy; writes the "workers" section of docs/benchmarks.md.
# Usage: tools/bench-workers.sh [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10s}"
pg_admin="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
pg="postgres://postgres@127.0.0.1:5432/agentos_bench?sslmode=disable"
go build -o bin/agentos ./cmd/agentos
go build -o bin/loadtest ./tools/loadtest
# A fresh database, and a checkpoint so that the previous run's writes are not flushed during this one.
fresh() { psql "$pg_admin" -qc "DROP DATABASE IF EXISTS agentos_bench WITH (FORCE)" -c "CREATE DATABASE agentos_bench" -c "CHECKPOINT" >/dev/null; }
section=$(mktemp)
trap 'rm -f "$section"' EXIT
runs=(
  "a|one tool call per run, 4 worker processes × 16 runs, 64 clients, PostgreSQL|fresh; bin/loadtest -scenario agents -worker-procs 4 -worker-concurrency 16 -clients 64 -duration $dur -db '$pg'"
  "b|worker memory, 100 concurrent runs mid-stream, PostgreSQL|fresh; bin/loadtest -scenario worker-memory -worker-concurrency 100 -db '$pg'"
)
{
  echo "## Workers end to end"
  echo
  echo "Command: \`tools/bench-workers.sh $dur\` (each line below is one \`bin/loadtest\` run; \`go run ./tools/loadtest -h\` lists the flags)."
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(go version | awk '{print $3}'), PostgreSQL $(psql "$pg_admin" -Atc 'show server_version' | cut -d' ' -f1), $(date -u +%Y-%m-%d)."
  echo "One \`agentos serve --workers 0\` process (orchestrator, Model Policy, federation), the \`agentos worker\` processes, PostgreSQL and the load generator share those cores."
  echo "In (a) each client creates a run of an agent whose builtin model calls the calculator once (\`/tool calculator {\"expression\": \"6 * 7\"}\`) and waits for it (\`:wait\`); a run counts when it completed with the answer \`The tool returned: 42\`."
  echo "Each run is: creation, a lease, two streamed model calls through Model Policy (policy, quota, usage), a tool call authorized by Model Policy, two event posts and the completion (which carries the final step's events)."
  echo "In (b) one worker holds 100 runs whose model (the test upstream behind Model Policy) streams 400 words at 50 ms each; the worker's RSS is read with every run mid-stream and compared with its idle RSS."
  echo
  echo "| | Scenario | Result |"
  echo "|---|---|---|"
} > "$section"
for r in "${runs[@]}"; do
  IFS='|' read -r id name cmd <<<"$r"
  echo "+ $cmd"
  result=$(eval "$cmd" | tail -n1)
  echo "$result"
  echo "| ($id) | $name | \`$result\` |" >> "$section"
done
cat >> "$section" <<'NOTE'

Target from the Workers issue: (a) ≥ 500 runs/s is **not met** on this 2-core machine:
the cores are saturated during (a). A run is a dozen requests (creation, lease, two
streamed model calls with policy and usage, a tool authorization, two event batches, the
completion, heartbeats, the client's `:wait`) across five processes (`agentos serve`,
four workers) and PostgreSQL, and about as many database writes; sampled over eight
seconds of (a), the `agentos` processes took 0.98 of the 2 cores and PostgreSQL 0.85.
Interleaved with the build this session started from (commit 3d7b5e5), in one session:
97–124 → 143–171 runs/s, from the orchestrator's group commits and prepared statements
(orchestrator section) and from a process no longer reacting to its own PostgreSQL
notifications (each echo re-read the run's events for every `:wait` on it: ten reads of
`run_events` per run); then 139–170 → 175–178 runs/s from handing committed events to
the `:wait`s without reading them back. Runs of (a) ranged from 68 to 198 runs/s this
session; the table shows one. Earlier steps: the event batching above (one batch per agent
step, the final step riding on `:complete`) took a one-tool run from six worker requests
after the lease to three. Worker memory per 100 concurrent runs (b) is the figure the
issue asks for; there is no target for it.
NOTE
tools/bench-section.sh workers < "$section"
echo "wrote the workers section of docs/benchmarks.md"
