#!/usr/bin/env bash
# check-tools.sh TOOL...: whether the tools a make target needs are here, in
# versions that work; one line per missing tool, saying how to get it, and
# exit 1 if any is missing.  TOOL: meson ninja pytest perf clang ruff mypy
# clang-format.  `make tools` puts meson, ninja, pytest, ruff and mypy into
# build/tools (Debian bookworm's meson is 1.0.1; the build needs 1.1).
set -u
PYTHON=${PYTHON:-python3}
missing=0
lack() {
    echo "missing: $1: $2" >&2
    missing=1
}
# version_at_least HAVE WANT: both dotted; true when HAVE >= WANT
version_at_least() {
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}
for tool in "$@"; do
    case $tool in
    meson)
        if ! have=$(meson --version 2>/dev/null); then
            lack meson "not found; run \`make tools\` (a venv in build/tools) or pip install 'meson>=1.1'"
        elif ! version_at_least "$have" 1.1; then
            lack meson "version $have, need >= 1.1; run \`make tools\` (a venv in build/tools)"
        fi ;;
    ninja)
        command -v ninja >/dev/null || lack ninja "not found; run \`make tools\` or apt-get install ninja-build" ;;
    pytest)
        "$PYTHON" -c 'import pytest' 2>/dev/null ||
            lack pytest "$PYTHON cannot import it; run \`make tools\` (then make uses build/tools/bin/python)" ;;
    ruff)
        command -v ruff >/dev/null || lack ruff "not found; run \`make tools\`" ;;
    mypy)
        command -v mypy >/dev/null || lack mypy "not found; run \`make tools\`" ;;
    perf)
        command -v perf >/dev/null || lack perf "not found; apt-get install linux-perf" ;;
    clang)
        command -v clang >/dev/null ||
            lack clang "not found (the fuzzers need it); apt-get install clang libclang-rt-14-dev" ;;
    clang-format)
        command -v clang-format >/dev/null || lack clang-format "not found; apt-get install clang-format" ;;
    *)
        echo "check-tools.sh: unknown tool $tool" >&2
        exit 2 ;;
    esac
done
exit $missing
