#!/usr/bin/env bash
# Build the two CPython 3.14 interpreters no package provides, from the
# source release in ../shared/cpython/ (beside the repository, as CI lays it):
#   fp  a default (GIL) build with frame pointers:  PREFIX/fp/bin/python3.14
#   ft  a free-threaded build (--disable-gil), also with frame pointers:
#                                                   PREFIX/ft/bin/python3.14t
# Both are compiled with -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
# (recorded in sysconfig's CFLAGS, so pip-built extensions get them too) and
# link libpython statically, like scripts/build-fp-python.sh (no rpath).
#
# Usage: scripts/build-python314.sh [--if-source] [fp|ft|all]    (default: all)
#   PREFIX is ${PERFTRAMP_PY314_PREFIX:-/opt/perftramp-py314}.
#   PERFTRAMP_PY314_TARBALL overrides the source tarball.
#   --if-source: without the tarball, say so and build nothing (exit 0)
#   instead of failing; scripts/prepare.sh uses it outside CI, where a clone
#   may have no ../shared/cpython (the 3.14 tests then skip).
#
# Cached: a variant whose PREFIX/VARIANT/.perftramp-build stamp matches the
# tarball's digest and the configure arguments is not built again.  An
# interrupted build leaves no stamp and is redone from scratch.
#
# Needs root (apt-get for the build dependencies).  Non-interactive (CI).
# Measured on 2 shared cores: see the timings printed (README, "Test matrix").
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PREFIX_BASE="${PERFTRAMP_PY314_PREFIX:-/opt/perftramp-py314}"
TARBALL="${PERFTRAMP_PY314_TARBALL:-$REPO/../shared/cpython/Python-3.14.7.tar.xz}"
FP_CFLAGS="-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer"
BUILD_DEPS=(
    build-essential pkg-config xz-utils
    libssl-dev zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libsqlite3-dev
    libffi-dev libreadline-dev libncurses-dev libgdbm-dev libgdbm-compat-dev
    libexpat1-dev uuid-dev
)
REQUIRED_MODULES="ssl _hashlib sqlite3 ctypes zlib bz2 lzma compression.zstd pyexpat _elementtree _uuid _decimal readline dbm.gnu"

log() { printf 'build-python314: %s\n' "$*"; }
die() { printf 'build-python314: error: %s\n' "$*" >&2; exit 1; }

IF_SOURCE=
if [[ "${1:-}" == --if-source ]]; then
    IF_SOURCE=1
    shift
fi
case "${1:-all}" in
    fp) VARIANTS=(fp) ;;
    ft) VARIANTS=(ft) ;;
    all) VARIANTS=(fp ft) ;;
    *) die "usage: build-python314.sh [--if-source] [fp|ft|all]" ;;
esac
if [[ ! -f "$TARBALL" ]]; then
    [[ -n "$IF_SOURCE" ]] || die "no source tarball at $TARBALL"
    log "no source tarball at $TARBALL: nothing built (what $PREFIX_BASE holds, if anything, is used as it is)"
    exit 0
fi

configure_args() { # configure_args VARIANT
    local args=(--prefix="$PREFIX_BASE/$1" --with-computed-gotos --with-system-expat
        --without-system-libmpdec --enable-loadable-sqlite-extensions)
    [[ "$1" == ft ]] && args+=(--disable-gil)
    printf '%s\n' "${args[@]}"
}
exe_of() { if [[ "$1" == ft ]]; then echo "$PREFIX_BASE/ft/bin/python3.14t"; else echo "$PREFIX_BASE/fp/bin/python3.14"; fi; }

TARBALL_SHA="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
stamp_content() { printf 'tarball %s\nCFLAGS %s\n%s\n' "$TARBALL_SHA" "$FP_CFLAGS" "$(configure_args "$1")"; }
is_cached() {
    local stamp="$PREFIX_BASE/$1/.perftramp-build"
    [[ -f "$stamp" && -x "$(exe_of "$1")" ]] && [[ "$(cat "$stamp")" == "$(stamp_content "$1")" ]]
}

TODO=()
for v in "${VARIANTS[@]}"; do
    if is_cached "$v"; then
        log "cached: $v ($(exe_of "$v")); nothing to do"
    else
        TODO+=("$v")
    fi
done
((${#TODO[@]})) || exit 0

[[ $EUID -eq 0 ]] || die "must run as root (apt-get for the build dependencies)"
START=$SECONDS

missing=()
for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing build dependencies: ${missing[*]}"
    t=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null </dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null </dev/null; } ||
        die "apt-get install failed"
    log "  ... build dependencies took $((SECONDS - t))s"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/build-python314.XXXXXX")"
trap 'rm -rf -- "$WORK"' EXIT
JOBS="${PERFTRAMP_JOBS:-2}"

run_logged() { # run_logged LOG WHAT CMD...: output in LOG, its tail on failure
    local logf="$1" what="$2"
    shift 2
    if ! "$@" >>"$logf" 2>&1; then
        printf 'build-python314: error: %s failed; last lines of %s:\n' "$what" "$logf" >&2
        tail -n 40 "$logf" >&2
        exit 1
    fi
}

for v in "${TODO[@]}"; do
    t=$SECONDS
    dest="$PREFIX_BASE/$v"
    src="$WORK/$v"
    logf="$WORK/$v.log"
    mkdir -p "$src"
    log "$v: unpacking $(basename "$TARBALL")"
    tar -C "$src" --strip-components=1 -xf "$TARBALL"
    mapfile -t args < <(configure_args "$v")
    log "$v: configure ${args[*]} CFLAGS=\"$FP_CFLAGS\""
    (cd "$src" && run_logged "$logf" configure ./configure "${args[@]}" CFLAGS="$FP_CFLAGS")
    log "$v: make -j$JOBS"
    (cd "$src" && run_logged "$logf" make make -j"$JOBS")
    (cd "$src" && run_logged "$logf" "module check" ./python -c '
import importlib, sys
missing = []
for name in sys.argv[1].split():
    try:
        importlib.import_module(name)
    except ImportError as e:
        missing.append("%s (%s)" % (name, e))
if missing:
    sys.exit("missing modules: " + ", ".join(missing))
' "$REQUIRED_MODULES")
    log "$v: make install into $dest"
    rm -rf -- "$dest"
    (cd "$src" && run_logged "$logf" "make install" make install)
    exe="$(exe_of "$v")"
    "$exe" -c 'import sysconfig, sys
cflags = sysconfig.get_config_var("CFLAGS") or ""
assert "no-omit-frame-pointer" in cflags, cflags
gil = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
assert gil == (sys.argv[1] == "fp"), "GIL enabled: %s" % gil
' "$v" || die "$exe: frame pointers or free-threading not as configured"
    "$exe" -m venv "$WORK/venv-$v" && "$WORK/venv-$v/bin/python" -m pip --version >/dev/null ||
        die "$exe -m venv gives no working pip"
    stamp_content "$v" >"$dest/.perftramp-build"
    log "$v: $("$exe" -VV | tr '\n' ' ')"
    log "$v: built in $((SECONDS - t))s: $exe"
    rm -rf -- "$src"
done
log "done in $((SECONDS - START))s"
