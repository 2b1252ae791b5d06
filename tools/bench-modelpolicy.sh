#!/usr/bin/env bash
# Runs the Model Policy load harness (tools/mpbench) twice — load generator, gateway and
# test upstream as three processes, then all in one — and writes its section of
# docs/benchmarks.md. Usage: tools/bench-modelpolicy.sh [mpbench flags]
# (e.g. -database-url postgres://… to put the gateway on PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
out=$(mktemp)
trap 'rm -rf "$bin" "$out"' EXIT
go build -o "$bin/mpbench" ./tools/mpbench
for procs in 3 1; do
  cmd="go run ./tools/mpbench -processes ${procs} $*"
  echo "+ ${cmd% }"
  {
    echo "### ${procs} process$([ "$procs" = 1 ] || echo es)"
    echo
    echo "Command: \`${cmd% }\`"
    echo
    "$bin/mpbench" -processes "$procs" "$@"
    echo
  } >> "$out"
done
{
  echo "## Model Policy gateway overhead"
  echo
  echo "Run by \`make bench\` (or \`make bench-modelpolicy\`). A test upstream"
  echo "(\`impl/modelpolicy/upstreamtest\`, an OpenAI-compatible server answering 8 words with"
  echo "usage) is called directly and through a Model Policy node in front of it (provider"
  echo "\`openai\`, the embedded policy bundle with its max_tokens obligation, quotas unlimited,"
  echo "usage and audit recorded), and, for reference, through a bare reverse proxy (Go's"
  echo "\`httputil.ReverseProxy\`, nothing else): the floor of what any proxy's extra hop costs"
  echo "on this machine. The paths are measured in one run, interleaved in one-second"
  echo "slices, by an open-loop load generator. The machine is shared with other"
  echo "work, so figures move between runs; each fixed-rate comparison is repeated. Its speed"
  echo "also changes from day to day: compare figures of one session only (see"
  echo "docs/design/0100-model-policy.md, \"Measurements across days\")."
  echo
  cat "$out"
} | tools/bench-section.sh modelpolicy
echo "wrote the modelpolicy section of docs/benchmarks.md"
