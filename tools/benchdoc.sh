#!/usr/bin/env bash
# benchdoc.sh NAME FILE: replace the block between <!-- BEGIN NAME --> and <!-- END NAME -->
# in docs/benchmarks.md with FILE's contents (appending the block when it is missing), so
# every benchmark script owns one section and leaves the others alone.
set -euo pipefail
name="$1"; body="$2"; doc="$(dirname "$0")/../docs/benchmarks.md"
[ -f "$doc" ] || printf '# Benchmarks\n\nMeasured figures only; each section names the command that produced it. `make bench` runs them all.\n' > "$doc"
python3 - "$doc" "$name" "$body" <<'PY'
import sys
doc, name, body = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().rstrip("\n")
s = open(doc).read()
begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
block = f"{begin}\n{body}\n{end}"
if begin in s and end in s:
    s = s[:s.index(begin)] + block + s[s.index(end) + len(end):]
else:
    s = s.rstrip("\n") + "\n\n" + block + "\n"
open(doc, "w").write(s)
PY
