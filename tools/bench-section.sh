#!/usr/bin/env bash
# Replaces one section of docs/benchmarks.md with standard input, leaving the others as
# they are. A section is everything between the lines "<!-- bench:NAME -->" and
# "<!-- /bench:NAME -->"; a section not in the file yet is appended.
# Usage: tools/bench-section.sh NAME < section.md
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"
doc=docs/benchmarks.md
body=$(mktemp)
trap 'rm -f "$body" "$body.new"' EXIT
cat > "$body"
if [ ! -f "$doc" ]; then
  printf '# Benchmarks\n\nMeasured figures only. Regenerate with `make bench`; every section names the command that produced it.\n' > "$doc"
fi
start="<!-- bench:${name} -->"
end="<!-- /bench:${name} -->"
if grep -qxF "$start" "$doc"; then
  awk -v start="$start" -v end="$end" -v body="$body" '
    $0 == start { print; while ((getline line < body) > 0) print line; skip = 1; next }
    $0 == end   { skip = 0 }
    !skip       { print }
  ' "$doc" > "$body.new"
else
  { cat "$doc"; printf '\n%s\n' "$start"; cat "$body"; printf '%s\n' "$end"; } > "$body.new"
fi
mv "$body.new" "$doc"
