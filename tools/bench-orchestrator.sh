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
tools/benchdoc.sh orchestrator "$section"
echo "wrote the orchestrator section of docs/benchmarks.md"
