#!/usr/bin/env bash
# Load benchmarks of the orchestrator over HTTP (tools/loadtest), on PostgreSQL (a fresh
# database agentos_bench on 127.0.0.1) and on SQLite; writes the "orchestrator" section of
# docs/benchmarks.md. Usage: tools/bench-orchestrator.sh [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10s}"
pg_admin="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
pg="postgres://postgres@127.0.0.1:5432/agentos_bench?sslmode=disable"
go build -o bin/agentos ./cmd/agentos
go build -o bin/loadtest ./tools/loadtest
fresh() { psql "$pg_admin" -qc "DROP DATABASE IF EXISTS agentos_bench WITH (FORCE)" -c "CREATE DATABASE agentos_bench" >/dev/null; }
out=$(mktemp); section=$(mktemp)
trap 'rm -f "$out" "$section"' EXIT
runs=(
  "a|create, 64 clients, PostgreSQL|fresh; bin/loadtest -scenario create -clients 64 -duration $dur -db '$pg'"
  "b|lifecycle, 8 workers, PostgreSQL|fresh; bin/loadtest -scenario lifecycle -clients 16 -workers 8 -worker-concurrency 16 -duration $dur -db '$pg'"
  "c|SSE fan-out, 1000 subscribers, PostgreSQL|fresh; bin/loadtest -scenario fanout -subscribers 1000 -events 200 -db '$pg'"
  "d1|create, 64 clients, SQLite|bin/loadtest -scenario create -clients 64 -duration $dur"
  "d2|lifecycle, 8 workers, SQLite|bin/loadtest -scenario lifecycle -clients 16 -workers 8 -worker-concurrency 16 -duration $dur"
)
{
  echo "## Orchestrator under load (HTTP)"
  echo
  echo "Command: \`tools/bench-orchestrator.sh $dur\` (each line below is one \`bin/loadtest\` run; \`go run ./tools/loadtest -h\` lists the flags)."
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(go version | awk '{print $3}'), PostgreSQL $(psql "$pg_admin" -Atc 'show server_version' | cut -d' ' -f1), $(date -u +%Y-%m-%d)."
  echo "The load generator, the orchestrator (\`agentos serve orchestrator\`, a child process whose peak RSS is reported) and PostgreSQL share those cores."
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

Targets from the Orchestrator issue: (a) ≥ 3,000 runs/s and (b) ≥ 1,000 runs/s on
PostgreSQL are **not met** on this 2-core machine, and (c) delivery p99 ≤ 50 ms was met
on a quieter day (23.6–28 ms) but not in the run above. This machine's speed varies from
day to day: in the session of the run above, the build before the changes listed below
(commit 3d67dc2) measured, interleaved with the current one on the same machine, create
357–384 runs/s (current: 1,882–2,019), lifecycle 139–154 runs/s (current: 221–298) and
SSE fan-out p99 65.9–72.5 ms (current: 62.7–75.4 ms, no change); on an earlier, faster
day the same old build measured 800–1,080 and 290–320 runs/s.

What moved (a) and (b) (docs/design/0002-orchestrator.md, "Throughput"): run creations
on PostgreSQL are committed in groups (one transaction and one multi-row insert per table
for all the creations that arrive together, with their quota slots taken per tenant for
the group); quota-slot releases of ended runs are coalesced the same way (completions of
one tenant queued one by one on its quota row); event batches and heartbeats under the
current lease are one statement each; claims walk the queue index in order. Earlier
steps: quota slots out of the run transaction, NOTIFY coalesced after commit, the simple
query protocol and a kept connection pool, one query for the agent, the audit chain moved
to an outbox. In (b) PostgreSQL's backends now mostly wait for the orchestrator inside
open transactions (lease and completion are several round trips each): the next step is
to make them one statement each, as appends are.
NOTE
tools/bench-section.sh orchestrator < "$section"
echo "wrote the orchestrator section of docs/benchmarks.md"
