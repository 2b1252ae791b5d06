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
PostgreSQL are **not met** on this 2-core machine; (c) delivery p99 ≤ 50 ms is met. During
(a) the cores are saturated: the orchestrator takes about half a core, PostgreSQL's
backends about one core, the load generator the rest. A run creation costs ten SQL
round trips (a quota-slot transaction of its own, then the run transaction: agent
lookup, audit outbox, run, first event); a full lifecycle about thirty. What already
moved the figures (measured with this harness, see docs/design/0002-orchestrator.md):
quota slots out of the run transaction (250 → 430 runs/s), NOTIFY coalesced after commit
instead of inside each transaction, the simple query protocol and a kept connection pool,
one query for the agent, and the audit chain moved to an outbox. The next step is to
write concurrent creations and event batches in shared multi-row transactions.
NOTE
tools/bench-section.sh orchestrator < "$section"
echo "wrote the orchestrator section of docs/benchmarks.md"
