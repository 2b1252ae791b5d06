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
fresh() { psql "$pg_admin" -qc "DROP DATABASE IF EXISTS agentos_bench WITH (FORCE)" -c "CREATE DATABASE agentos_bench" >/dev/null; }
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
the cores are saturated during (a). Sampled over five seconds of (a), CPU time split
about 44 % PostgreSQL's backends, 36 % the `agentos serve` process, 17 % the four workers
and 3 % the load generator. A run is a dozen requests (creation, lease, two streamed
model calls with policy and usage, a tool authorization, two event batches, the
completion, heartbeats, the client's `:wait`) and about as many database writes. What
moved it: the event batching above (one batch per agent step, the final step riding on
`:complete`) took a one-tool run from six worker requests after the lease (five event
posts and the completion) to three (two posts and the completion); the orchestrator's
group commit, one-statement appends and heartbeats, and coalesced quota releases
(orchestrator section) took (a) from 66 runs/s to 100–109 runs/s on this machine in the
same session. Worker memory per 100 concurrent runs (b) is the figure the issue asks for;
there is no target for it.
NOTE
tools/bench-section.sh workers < "$section"
echo "wrote the workers section of docs/benchmarks.md"
