#!/usr/bin/env bash
# End-to-end benchmarks of workers (tools/loadtest -scenario agents|worker-memory): the
# whole platform (`agentos serve --workers 0`) on PostgreSQL (a fresh database
# agentos_bench on 127.0.0.1) with real `agentos worker` processes executing agent loops
# through Model Policy; writes the "workers" section of docs/benchmarks.md.
# Scenario (a) runs $repeat times (this machine's speed drifts from minute to minute);
# every run is listed, with the median.
# Usage: tools/bench-workers.sh [duration] [repeat]
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10s}"
repeat="${2:-3}"
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
  echo "Command: \`tools/bench-workers.sh $dur $repeat\` ((a) is run $repeat times; each line below is one \`bin/loadtest\` run, ending with \`speed_probe=\`: the seconds \`sha256sum\` took over 512 MiB just before and just after it, as the machine's speed moves from minute to minute; \`go run ./tools/loadtest -h\` lists the flags)."
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(go version | awk '{print $3}'), PostgreSQL $(psql "$pg_admin" -Atc 'show server_version' | cut -d' ' -f1), $(date -u +%Y-%m-%d)."
  echo "One \`agentos serve --workers 0\` process (orchestrator, Model Policy, federation), the \`agentos worker\` processes, PostgreSQL and the load generator share those cores."
  echo "In (a) each client creates a run of an agent whose builtin model calls the calculator once (\`/tool calculator {\"expression\": \"6 * 7\"}\`) and waits for it in the same request (\`POST …/runs?wait=30s\`; before 2026-11-26 it sent a separate \`:wait\`, which \`-create-wait=false\` still does); a run counts when it completed with the answer \`The tool returned: 42\`."
  echo "Each run is: creation (answered when the run ends), a share of a lease call, two streamed model calls through Model Policy (policy, quota, usage), a tool call authorized by Model Policy, one event post (the first step with the tool's result) and the completion (which carries the final step's events)."
  echo "In (b) one worker holds 100 runs whose model (the test upstream behind Model Policy) streams 400 words at 50 ms each; the worker's RSS is read with every run mid-stream and compared with its idle RSS."
  echo
  echo "| | Scenario | Median | Runs |"
  echo "|---|---|---|---|"
} > "$section"
# The machine's speed moves from minute to minute: each run is bracketed by the seconds
# sha256sum takes over 512 MiB (lower is faster), before and after it.
probe() { local t0=$EPOCHREALTIME; head -c 536870912 /dev/zero | sha256sum >/dev/null; echo "scale=1; ($EPOCHREALTIME - $t0) / 1" | bc; }
median() { grep -o "$1=[0-9.]*" | cut -d= -f2 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for r in "${runs[@]}"; do
  IFS='|' read -r id name cmd <<<"$r"
  n=1
  [[ $id == a ]] && n=$repeat
  results=""
  for ((i = 1; i <= n; i++)); do
    echo "+ $cmd"
    before=$(probe)
    result=$(eval "$cmd" | tail -n1)
    result+=" speed_probe=${before}s/$(probe)s"
    echo "$result"
    results+="${result}"$'\n'
  done
  if [[ $id == a ]]; then med="$(median throughput <<<"$results") runs/s"; else med="$(median per_100_runs <<<"$results") MiB per 100 runs"; fi
  cells=$(sed '/^$/d; s/.*/`&`/' <<<"$results" | paste -sd'|' | sed 's/|/<br>/g')
  echo "| ($id) | $name | **$med** | $cells |" >> "$section"
done
cat >> "$section" <<'NOTE'

Target from the Workers issue: (a) ≥ 500 runs/s, met by the table above (the build of
commit abdb7f3, an AMD EPYC machine in a fast hour: the speed probe, `sha256sum` of
512 MiB, took 1.6–2.3 s). The same build did not meet it on every machine and hour: on
the Intel Xeon the day's earlier session ran on, with the probe at 2.9–6.2 s within the
hour, it gave 397 runs/s at 5.9/3.7 s, 482 at 4.5/3.9 s and 515 at 2.9/2.8 s (median
482), and 387, 338 and 378 runs/s with the probe at 3.3/4.4 s; there a build one fix
short of it gave 591, 580 and 541 runs/s with the probe at 2.9 s, and in a slow stretch,
interleaved, the build that session started from gave 293–411 runs/s (with its
create-then-`:wait` client) where the build one fix short of the final gave 388–457.
The cores are what bounds it: a
system-wide profile (`perf record -a`) during (a) at about 430 runs/s gave `serve` 37 %,
the four workers 22 %, PostgreSQL's backends 33–36 % and the load generator 3–5 % of
the machine, idle 1–4 %: about 4.5 ms of CPU per run over seven HTTP requests through
`serve` (creation, two streamed model calls, a tool authorization, one event post, the
completion, a third of a lease call) and about five database statements. Figures of one
session are comparable only when interleaved.

On 2026-11-26, interleaved on one machine: the build of the session before, 337–383
runs/s with the create-then-`:wait` client; with event streams drained after `[DONE]`
(workers no longer lost a connection per model call) and a quick tool's announcement
posted with its result, 436–441 runs/s with that same client, and 461–496 runs/s with
the one-request creation (`?wait`). Prepared statements on PostgreSQL came after, for
creations, ends and audit enqueueing, then for the quota release and the audit chain
(whose records had been one statement of inlined text that PostgreSQL lexed and parsed:
its lexer and parser were the top of its profile); the noise resolved neither step (the
second, interleaved: 370–540 runs/s before, 388–457 after). Last, lookups of runs planned
at every execution instead of keeping a generic plan made while the table was empty (a
sequential scan that read 2.85 million rows of `runs` in a 10-s run): over 40 s, 428 →
489 runs/s (one run each; the difference grows with the table).

Interleaved with the build before, in one session each: 97–124 → 143–171 runs/s (the
orchestrator's group commits and prepared statements; a process no longer reacting to
its own PostgreSQL notifications), then 139–170 → 175–178 (committed events handed to
the `:wait`s without a read), then 129–169 → 190–201 (a `:wait` watching before it
reads and answering with the run as its end left it; reading a run and its events
prepared; a stream's events that arrive together written in one flush; a tool's schema
compiled once per worker, not per call), and with Model Policy's fewer allocations per
call on top (its section), 172–198 → 241–265 runs/s against that same starting build;
then the builtin model's stream chunks typed instead of maps, interleaved with the build
before it: medians 202 → 218 runs/s (runs of 179–251 and 211–223: minute-to-minute
noise is as large as the change here).
Worker memory per 100 concurrent runs went from 22.1 to 15.8 MiB with a model stream's
line buffer starting at 4 KiB instead of 64 KiB. Earlier, the event batching (one batch per agent
step, the final step riding on `:complete`) took a one-tool run from six worker
requests after the lease to three. Worker memory per 100 concurrent runs (b) is the
figure the issue asks for; there is no target for it.
NOTE
tools/bench-section.sh workers < "$section"
echo "wrote the workers section of docs/benchmarks.md"
