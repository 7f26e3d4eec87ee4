#!/usr/bin/env bash
# The main job on a fresh machine: install perf if missing, install perftramp
# into a virtual environment, profile the seed document's example
# (examples/my_script.py) under perf by hand, print perf's report with the
# Python functions and the sample in foo with the longest Python chain; then
# the same through perftramp record / perftramp report, with the heaviest
# stack it folded.  Both show the whole chain, foo < bar < baz < <module>.
#
# The recipe by hand is the one that gives the whole chain on the chosen
# interpreter (PYTHON=...; default: scripts/build-fp-python.sh's
# frame-pointer CPython when present, else python3):
#   frame pointers  the HOWTO's: perf record -g, python -X perf
#   none            perftramp's perf_elf backend, perf record --call-graph
#                   dwarf, no perf inject.  The HOWTO's -X perf with DWARF
#                   unwinding would name only the innermost Python function:
#                   a perf map has names, but no rules to unwind through a
#                   trampoline.
# perftramp record makes that choice itself.
#
# It leaves nothing outside $OUT: perf writes no build-id cache (-N), and the
# /tmp/perf-PID.map that -X perf leaves for perf report is removed once read.
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
# afresh: an extension built for another interpreter of the same version
# would load, without that one's frame pointers
"$PYTHON" -m venv --clear "$OUT/venv"
"$OUT/venv/bin/python" -m pip install --quiet --disable-pip-version-check .

# The maps of the processes perf recorded, written since $OUT/started: ours.
remove_maps() {
    local pid map
    [ -f "$OUT/perf.data" ] || return 0
    for pid in $(perf script -i "$OUT/perf.data" -F pid 2>/dev/null | sort -un); do
        map=/tmp/perf-$pid.map
        if [ -O "$map" ] && [ "$map" -nt "$OUT/started" ]; then rm -f "$map"; fi
    done
}
rm -rf "$OUT/perf.data" "$OUT/elf"
touch "$OUT/started"
trap remove_maps EXIT

# (captured first: under pipefail, grep -q closing the pipe early would fail
# the whole test)
config=$("$OUT/venv/bin/python" -m sysconfig)
if grep -q no-omit-frame-pointer <<<"$config"; then
    echo "demo: $PYTHON has frame pointers: the HOWTO's recipe, perf unwinding by" \
        "frame pointers through -X perf's trampolines" >&2
    echo "demo: perf record -N -F 9999 -g -- python -X perf examples/my_script.py" >&2
    perf record -q -N -F 9999 -g -o "$OUT/perf.data" \
        -- "$OUT/venv/bin/python" -X perf examples/my_script.py
else
    echo "demo: $PYTHON has no frame pointers: perftramp's perf_elf backend, which perf" \
        "unwinds with DWARF, no perf inject (the HOWTO's -X perf would name only foo)" >&2
    echo "demo: PERFTRAMP_ACTIVATE=perf_elf PERFTRAMP_ELF_DIR=$OUT/elf" \
        "perf record -N -F 999 --call-graph dwarf,65528 -- python examples/my_script.py" >&2
    PERFTRAMP_ACTIVATE=perf_elf PERFTRAMP_ELF_DIR="$(cd "$OUT" && pwd)/elf" \
        perf record -q -N -F 999 --call-graph dwarf,65528 -o "$OUT/perf.data" \
        -- "$OUT/venv/bin/python" examples/my_script.py
fi
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
remove_maps

echo "demo: the same with perftramp's front end: perftramp record + perftramp report" >&2
rm -rf "$OUT/rec"
"$OUT/venv/bin/perftramp" record -o "$OUT/rec" -- "$OUT/venv/bin/python" examples/my_script.py
"$OUT/venv/bin/perftramp" report "$OUT/rec" --top 8
echo "demo: the heaviest stack perftramp report folded (--format collapsed), its Python" \
    "frames, outermost first:" >&2
# (its stderr: what the text report above has said already)
"$OUT/venv/bin/perftramp" report "$OUT/rec" --format collapsed 2>/dev/null | awk '
    $NF > best { best = $NF; stack = $0 }
    END {
        sub(/ [0-9]+$/, "", stack)
        n = split(stack, frame, ";")
        for (i = 1; i <= n; i++) if (frame[i] ~ /^py::/) print "    " frame[i]
        printf "    (%d samples)\n", best
    }'
"$OUT/venv/bin/perftramp" report "$OUT/rec" --format html -o "$OUT/flame.html"
