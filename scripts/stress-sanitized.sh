#!/usr/bin/env bash
# The stress test (tests/python/stress.py) against perftramp's extension
# built with a sanitizer, on the given interpreters:
#
#   scripts/stress-sanitized.sh asan|tsan SECONDS PYTHON...
#
# The interpreters are not sanitized, so the sanitizer runtime is preloaded
# into the workload (only there: the checker runs with $PYTHON, plain), and
# the options suit an uninstrumented host:
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer.  detect_leaks=0:
#         CPython does not free everything at exit by design, and LeakSanitizer
#         would report that in every process and child.  Any report stops and
#         aborts the process (halt_on_error, abort_on_error): the checker sees a
#         crash, and the report on stderr.
#   tsan  ThreadSanitizer, with tests/tsan.supp (see there for what it may
#         suppress: only reports wholly inside CPython).  halt_on_error: the
#         first report ends the process with exit code 66.  history_size=7
#         (the most): the earlier access of a race between threads making
#         many functions is otherwise often "[failed to restore the stack]",
#         and a report must show every stack for its frames to be judged.
# Each interpreter gets a venv of its own, build/venvs-KIND/VERSION (3.14.7t
# for a free-threaded one), rebuilt when the sources change.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=$1
seconds=$2
shift 2
case $kind in
asan)
    sanitize=address,undefined
    runtimes="libasan.so libubsan.so"
    export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:print_legend=0
    export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
    ;;
tsan)
    sanitize=thread
    runtimes="libtsan.so"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=7:suppressions=$PWD/tests/tsan.supp"
    ;;
*)
    echo "usage: $0 asan|tsan SECONDS PYTHON..." >&2
    exit 2
    ;;
esac
if [ $# -eq 0 ]; then
    echo "SKIPPED stress-$kind: no interpreter given" >&2
    exit 0
fi
preload=
for lib in $runtimes; do
    path=$(${CC:-gcc} -print-file-name="$lib")
    if [ ! -e "$path" ]; then
        echo "stress-$kind: ${CC:-gcc} has no $lib" >&2
        exit 1
    fi
    preload=${preload:+$preload:}$path
done
digest=$({ cat meson.build meson.options pyproject.toml; find src -type f | LC_ALL=C sort | xargs cat; } |
    sha256sum | cut -d' ' -f1)

for base in "$@"; do
    # 3.14.7t (sys.abiflags "t") beside 3.14.7: a free-threaded build needs
    # an extension of its own
    version=$("$base" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3] + sys.abiflags)')
    venv=build/venvs-$kind/$version
    if [ "$(cat "$venv/perftramp-source.sha256" 2>/dev/null)" != "$digest" ]; then
        echo "stress-$kind: building perftramp with -Db_sanitize=$sanitize for $version"
        rm -rf "$venv"
        # A TMPDIR of its own: ensurepip's pip on 3.8 and 3.9 leaves its CA
        # bundle there (tests/python/interpreters.py, make_venv).
        mkdir -p build && venv_tmp=$(mktemp -d "build/venvs-$kind.tmp-XXXXXX")
        TMPDIR="$PWD/$venv_tmp" "$base" -m venv "$venv"
        rm -rf -- "$venv_tmp"
        # pip before 23.1 keeps one of several values of a --config-settings key
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check . \
            --config-settings=setup-args=-Db_sanitize=$sanitize \
            --config-settings=setup-args=-Db_lundef=false \
            --config-settings=setup-args=-Dbuildtype=debugoptimized
        so=$(find "$venv" -name '_perftramp*.so')
        linked=$(ldd "$so")
        for lib in $runtimes; do
            if ! grep -q "${lib%.so}" <<<"$linked"; then
                echo "stress-$kind: $so is not linked with $lib: the sanitizer did not apply" >&2
                exit 1
            fi
        done
        echo "$digest" >"$venv/perftramp-source.sha256"
    fi
    "${PYTHON:-python3}" tests/python/stress.py --python "$venv/bin/python" \
        --seconds "$seconds" --preload "$preload"
done
