#!/usr/bin/env bash
# Runs the Model Policy load harness (tools/mpbench) and writes its section of
# docs/benchmarks.md. Usage: tools/bench-modelpolicy.sh [mpbench flags]
# (e.g. -database-url postgres://… to put the gateway on PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="go run ./tools/mpbench $*"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "+ $cmd"
eval "$cmd" > "$out"
{
  echo "## Model Policy gateway overhead"
  echo
  echo "Command: \`${cmd% }\` (also run by \`make bench\`)."
  echo
  echo "A test upstream (\`impl/modelpolicy/upstreamtest\`, an OpenAI-compatible server answering"
  echo "8 words with usage) is called directly and through a Model Policy node in front of it"
  echo "(provider \`openai\`, the embedded policy bundle with its max_tokens obligation, quotas"
  echo "unlimited, usage and audit recorded); both paths are measured in one run, interleaved"
  echo "in one-second slices, by an open-loop load generator in the same process."
  echo
  cat "$out"
} | tools/bench-section.sh modelpolicy
echo "wrote the modelpolicy section of docs/benchmarks.md"
