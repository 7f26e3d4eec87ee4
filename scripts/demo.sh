#!/usr/bin/env bash
# The main job on a fresh machine: install perf if missing, install perftramp
# into a virtual environment, profile the seed document's example under perf
# with `-X perf`, and print perf's report with the Python functions in it.
#
# With a frame-pointer CPython (scripts/build-fp-python.sh; PYTHON=... to pick
# another) perf unwinds by frame pointers and shows the whole Python chain;
# otherwise it unwinds with DWARF, which reaches the innermost Python frames.
set -euo pipefail
cd "$(dirname "$0")/.."

FP_PYTHON=/opt/perftramp-fp/python3.11/bin/python3.11
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$FP_PYTHON" ]; then PYTHON=$FP_PYTHON; else PYTHON=python3; fi
fi
OUT=${OUT:-build/demo}

if ! command -v perf >/dev/null; then
    echo "demo: installing perf (linux-perf)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi

mkdir -p "$OUT"
echo "demo: installing perftramp into $OUT/venv (from $PYTHON)" >&2
"$PYTHON" -m venv "$OUT/venv"
"$OUT/venv/bin/python" -m pip install --quiet --disable-pip-version-check .

# (captured first: under pipefail, grep -q closing the pipe early would fail
# the whole test)
config=$("$OUT/venv/bin/python" -m sysconfig)
if grep -q no-omit-frame-pointer <<<"$config"; then
    CALL_GRAPH=(-g)
else
    CALL_GRAPH=(--call-graph dwarf)
fi
echo "demo: perf record -N -F 9999 ${CALL_GRAPH[*]} -- python -X perf examples/my_script.py" >&2
perf record -q -N -F 9999 "${CALL_GRAPH[@]}" -o "$OUT/perf.data" \
    -- "$OUT/venv/bin/python" -X perf examples/my_script.py
echo "demo: perf report --children --sort sym, the Python functions:" >&2
perf report -i "$OUT/perf.data" --stdio --children --sort sym -g none 2>/dev/null \
    | grep -e 'Children' -e 'py::'
echo "demo: the sample inside py::foo with the longest Python chain, innermost first:" >&2
(perf script -i "$OUT/perf.data" -F ip,sym 2>/dev/null || true) | awk '
    /py::foo:/ { found = 1 }
    /py::/ { py++ }
    NF == 0 { if (found && py > best_py) { best = block; best_py = py }
              block = ""; found = 0; py = 0; next }
    { block = block $0 "\n" }
    END { printf "%s", best }'

echo "demo: the same with perftramp's front end: perftramp record + perftramp report" >&2
rm -rf "$OUT/rec"
"$OUT/venv/bin/perftramp" record -o "$OUT/rec" -- "$OUT/venv/bin/python" examples/my_script.py
"$OUT/venv/bin/perftramp" report "$OUT/rec" --top 8
"$OUT/venv/bin/perftramp" report "$OUT/rec" --format html -o "$OUT/flame.html"
