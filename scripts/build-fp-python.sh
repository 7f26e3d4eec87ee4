#!/usr/bin/env bash
# Build a CPython 3.11 with frame pointers from Debian's python3.11 source
# package, so that perf (and other frame-pointer unwinders) can walk native
# stacks through the interpreter.
#
# Usage: scripts/build-fp-python.sh [PREFIX]
#   PREFIX defaults to ${PERFTRAMP_FP_PREFIX:-/opt/perftramp-fp/python3.11}.
#
# The result is $PREFIX/bin/python3.11: a non-shared build (libpython is linked
# statically into the binary), compiled with
#   -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
# which are also recorded in the sysconfig CFLAGS, so C extensions built later
# by pip get frame pointers too.  Debian's patches are kept (same source as the
# distribution's python3.11, plus frame pointers).
#
# If $PREFIX/bin/python3.11 already exists and its sysconfig mentions
# no-omit-frame-pointer, the script does nothing (cache hit).
#
# Needs root (or passwordless sudo) for apt-get; meant for Debian bookworm.
# Runs non-interactively (CI).  Takes about 6-7 minutes on 2 cores.
set -euo pipefail

PREFIX="${1:-${PERFTRAMP_FP_PREFIX:-/opt/perftramp-fp/python3.11}}"
FP_CFLAGS="-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer"
SRC_PKG="python3.11"
PY="$PREFIX/bin/python3.11"
DEB_SRC_FILE="/etc/apt/sources.list.d/perftramp-deb-src.sources"
DEB_SRC_LIST="/etc/apt/sources.list.d/perftramp-deb-src.list"
# Build dependencies: what CPython needs for the stdlib modules a normal
# program uses (ssl, hashlib, sqlite3, ctypes, zlib, bz2, lzma, readline,
# curses, dbm, uuid, pyexpat), plus the tools to fetch and unpack the Debian
# source package and regenerate configure the way debian/rules does.
BUILD_DEPS=(
    build-essential dpkg-dev autoconf pkg-config xz-utils
    libssl-dev zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev libffi-dev
    libreadline-dev libncurses-dev libgdbm-dev libgdbm-compat-dev
    libexpat1-dev uuid-dev
)
REQUIRED_MODULES="ssl _hashlib sqlite3 ctypes zlib bz2 lzma pyexpat _elementtree _uuid _decimal"
OPTIONAL_MODULES="readline curses dbm.gnu dbm.ndbm"

export DEBIAN_FRONTEND=noninteractive

log() { printf 'build-fp-python: %s\n' "$*"; }
die() { printf 'build-fp-python: error: %s\n' "$*" >&2; exit 1; }

# Prefix must be absolute: it is baked into the interpreter.
case "$PREFIX" in
    /*) ;;
    *) die "PREFIX must be an absolute path (got '$PREFIX')" ;;
esac
PREFIX="${PREFIX%/}"
PY="$PREFIX/bin/python3.11"

has_fp_flags() {
    # Capture first: `python -m sysconfig | grep -q` can die of SIGPIPE and,
    # under pipefail, look like a miss.
    local out
    out="$("$1" -m sysconfig 2>/dev/null)" || return 1
    grep -q -- 'no-omit-frame-pointer' <<<"$out"
}

if [[ -x "$PY" ]] && has_fp_flags "$PY"; then
    log "cached: $PY already has frame pointers (no-omit-frame-pointer in sysconfig); nothing to do"
    log "python: $PY"
    exit 0
fi

START_TIME=$SECONDS

# --- privileges --------------------------------------------------------------
SUDO=()
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        die "must run as root (or with passwordless sudo) to use apt-get"
    fi
fi
as_root() { "${SUDO[@]}" "$@"; }
apt_get() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null
}

# --- work dir ----------------------------------------------------------------
WORK=""
cleanup() {
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        rm -rf -- "$WORK" 2>/dev/null || as_root rm -rf -- "$WORK" || true
    fi
}
trap cleanup EXIT
WORK="$(mktemp -d "${TMPDIR:-/tmp}/build-fp-python.XXXXXX")"
BUILD_LOG="$WORK/build.log"

# Run a noisy build step with output in $BUILD_LOG; show its tail on failure.
run_logged() {
    local what="$1"
    shift
    printf '\n==== %s: %s\n' "$what" "$*" >>"$BUILD_LOG"
    if ! "$@" >>"$BUILD_LOG" 2>&1; then
        printf 'build-fp-python: error: %s failed; last lines of the log:\n' "$what" >&2
        tail -n 60 "$BUILD_LOG" >&2 || true
        exit 1
    fi
}

# --- deb-src -----------------------------------------------------------------
CODENAME=""
if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    CODENAME="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
fi
[[ -n "$CODENAME" ]] || CODENAME="bookworm"

# Print deb-src stanzas mirroring every enabled `Types: deb` stanza of the given
# deb822 files whose Suites mention $CODENAME (e.g. bookworm, bookworm-updates,
# bookworm-security); URIs/Suites/Components/Signed-By etc. are copied as is.
deb822_to_deb_src() {
    awk -v codename="$CODENAME" '
        BEGIN { RS = "" }
        {
            n = split($0, lines, "\n"); out = ""; is_deb = 0; ok_suite = 0; disabled = 0
            for (i = 1; i <= n; i++) {
                line = lines[i]
                if (line ~ /^[ \t]*#/) continue
                if (line ~ /^Types:/) {
                    if (line ~ /[ \t]deb([ \t]|$)/) is_deb = 1
                    line = "Types: deb-src"
                }
                if (line ~ /^Suites:/ && line ~ ("[ \t]" codename "([ \t-]|$)")) ok_suite = 1
                if (line ~ /^Enabled:[ \t]*[Nn]o/) disabled = 1
                out = out line "\n"
            }
            if (is_deb && ok_suite && !disabled) printf "%s\n", out
        }' "$@"
}

# Same for one-line sources.list files: `deb [opts] URI SUITE COMPONENTS...`.
list_to_deb_src() {
    awk -v codename="$CODENAME" '
        /^[ \t]*deb[ \t]/ {
            line = $0
            sub(/^[ \t]*deb/, "deb-src", line)
            # the suite is the first field after the URI (skip [options])
            rest = line; sub(/^deb-src[ \t]+(\[[^]]*\][ \t]+)?/, "", rest)
            split(rest, f, /[ \t]+/)
            if (f[2] ~ ("^" codename "(-|$)")) print line
        }' "$@"
}

have_deb_src_for_codename() {
    # shellcheck disable=SC2016  # $(RELEASE) is apt's format, not the shell's
    apt-get indextargets --no-release-info --format '$(RELEASE)' 'Created-By: Sources' 2>/dev/null \
        | grep -Eq "^${CODENAME}(-|\$)"
}

ensure_deb_src() {
    local tmp deb822_files=() list_files=() f
    if [[ ! -e "$DEB_SRC_FILE" && ! -e "$DEB_SRC_LIST" ]] && have_deb_src_for_codename; then
        log "deb-src for $CODENAME already configured"
        return 0
    fi
    for f in /etc/apt/sources.list.d/*.sources; do
        if [[ -f "$f" && "$f" != "$DEB_SRC_FILE" ]]; then deb822_files+=("$f"); fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        if [[ -f "$f" && "$f" != "$DEB_SRC_LIST" ]]; then list_files+=("$f"); fi
    done
    tmp="$WORK/deb-src"
    : >"$tmp"
    if ((${#deb822_files[@]})); then
        deb822_to_deb_src "${deb822_files[@]}" >"$tmp"
    fi
    if [[ -s "$tmp" ]]; then
        if ! cmp -s "$tmp" "$DEB_SRC_FILE" 2>/dev/null; then
            log "adding deb-src entries for $CODENAME: $DEB_SRC_FILE"
            as_root install -m 0644 "$tmp" "$DEB_SRC_FILE"
        else
            log "deb-src entries for $CODENAME already in $DEB_SRC_FILE"
        fi
        return 0
    fi
    if ((${#list_files[@]})); then
        list_to_deb_src "${list_files[@]}" >"$tmp"
    fi
    if [[ -s "$tmp" ]]; then
        if ! cmp -s "$tmp" "$DEB_SRC_LIST" 2>/dev/null; then
            log "adding deb-src entries for $CODENAME: $DEB_SRC_LIST"
            as_root install -m 0644 "$tmp" "$DEB_SRC_LIST"
        fi
        return 0
    fi
    die "found no enabled 'deb' entry for $CODENAME in /etc/apt to mirror as deb-src"
}

ensure_deb_src
log "apt-get update"
run_logged "apt-get update" apt_get update

log "installing build dependencies: ${BUILD_DEPS[*]}"
run_logged "apt-get install" apt_get install --no-install-recommends "${BUILD_DEPS[@]}"

# --- source --------------------------------------------------------------------
fetch_source() {
    local v versions
    cd "$WORK/src"
    if apt-get source -q "$SRC_PKG" >>"$BUILD_LOG" 2>&1 </dev/null; then
        return 0
    fi
    # The newest version can be listed in an index (e.g. the security suite's
    # Sources) whose pool files the mirror does not have; try the others.
    versions="$(apt-cache showsrc "$SRC_PKG" | awk '/^Version:/ { print $2 }' | sort -u -r -V)"
    [[ -n "$versions" ]] || return 1
    log "apt-get source $SRC_PKG failed (its files may be missing from the mirror); trying each listed version"
    for v in $versions; do
        log "trying apt-get source $SRC_PKG=$v"
        if apt-get source -q "$SRC_PKG=$v" >>"$BUILD_LOG" 2>&1 </dev/null; then
            return 0
        fi
    done
    return 1
}

make_src_dir() {
    mkdir -p "$WORK/src"
    # Let apt's _apt sandbox user write the downloads (else apt warns and
    # downloads unsandboxed as root).
    if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then
        chmod 0755 "$WORK"
        chown _apt "$WORK/src" || true
    fi
}

log "fetching Debian source package $SRC_PKG into $WORK/src"
make_src_dir
if ! fetch_source; then
    tail -n 30 "$BUILD_LOG" >&2 || true
    die "apt-get source $SRC_PKG failed"
fi
SRC_DIR=""
for d in "$WORK"/src/"$SRC_PKG"-*/; do
    if [[ -f "$d/configure.ac" ]]; then SRC_DIR="${d%/}"; fi
done
[[ -n "$SRC_DIR" ]] || die "no unpacked $SRC_PKG source tree found in $WORK/src"
if [[ $EUID -eq 0 ]]; then chown -R root:root "$WORK/src"; fi
DSC_VERSION="$(sed -n 's/^Version: //p' "$WORK"/src/*.dsc | head -n 1)"
log "source: $SRC_DIR (Debian version ${DSC_VERSION:-unknown}, Debian patches applied)"
cd "$SRC_DIR"

# Debian patches configure.ac and regenerates configure (debian/rules runs
# autoconf); do the same so the patched configure.ac takes effect.
log "regenerating configure (autoconf)"
rm -rf autom4te.cache
run_logged "autoconf" autoconf

# Debian's backport of the CVE-2026-4224 fix makes Modules/pyexpat.c include an
# internal header (pycore_ceval.h).  Debian links pyexpat into the interpreter
# (built with Py_BUILD_CORE_BUILTIN), but a plain build makes it a shared
# extension, which then fails to compile ("this header requires Py_BUILD_CORE
# define") and silently drops pyexpat and _elementtree.  Define
# Py_BUILD_CORE_MODULE for it, as upstream pyexpat.c does from 3.12 on.
if grep -q '#include "pycore_' Modules/pyexpat.c && ! grep -q 'Py_BUILD_CORE' Modules/pyexpat.c; then
    log "patching Modules/pyexpat.c: define Py_BUILD_CORE_MODULE (it includes internal headers)"
    sed -i '0,/^#include "Python.h"/s//#ifndef Py_BUILD_CORE_BUILTIN\n#  define Py_BUILD_CORE_MODULE 1\n#endif\n#include "Python.h"/' \
        Modules/pyexpat.c
    grep -q 'define Py_BUILD_CORE_MODULE' Modules/pyexpat.c || die "could not patch Modules/pyexpat.c"
fi

# ensurepip: venv seeds pip from the wheels bundled in Lib/ensurepip/_bundled.
# If the source package ships none, use Debian's wheels (python3-pip-whl,
# python3-setuptools-whl), copied into $PREFIX/share/python-wheels and found
# through --with-wheel-pkg-dir (the mechanism Debian's own build uses).
WHEEL_ARGS=()
WHEEL_DIR=""
if compgen -G "Lib/ensurepip/_bundled/pip-*.whl" >/dev/null &&
    compgen -G "Lib/ensurepip/_bundled/setuptools-*.whl" >/dev/null; then
    log "ensurepip: using the bundled wheels: $(cd Lib/ensurepip/_bundled && echo *.whl)"
else
    log "ensurepip: no bundled wheels in the source; using Debian's python3-pip-whl and python3-setuptools-whl"
    run_logged "apt-get install wheels" apt_get install --no-install-recommends python3-pip-whl python3-setuptools-whl
    WHEEL_DIR="$PREFIX/share/python-wheels"
    WHEEL_ARGS=(--with-wheel-pkg-dir="$WHEEL_DIR")
fi

# --- configure / build ---------------------------------------------------------------
# No --enable-shared: libpython is linked statically into the binary, so no
# rpath is needed.  No PGO/LTO and no test suite (too slow).
# CFLAGS given to configure end up in the sysconfig CFLAGS (and CONFIG_ARGS).
log "configure --prefix=$PREFIX CFLAGS=\"$FP_CFLAGS\""
run_logged "configure" ./configure \
    --prefix="$PREFIX" \
    --enable-ipv6 \
    --enable-loadable-sqlite-extensions \
    --with-computed-gotos \
    --with-system-expat \
    --with-dbmliborder=gdbm:ndbm \
    --without-ensurepip \
    "${WHEEL_ARGS[@]}" \
    CFLAGS="$FP_CFLAGS"

grep -q -- '-fno-omit-frame-pointer' Makefile || die "frame-pointer flags did not reach the Makefile"

JOBS="$(nproc 2>/dev/null || echo 2)"
log "make -j$JOBS (takes several minutes; log in $BUILD_LOG)"
build_start=$SECONDS
run_logged "make" make -j"$JOBS"
log "compiled in $((SECONDS - build_start))s"

log "checking stdlib extension modules in the build tree"
run_logged "module check" ./python -c '
import importlib, sys
required, optional = sys.argv[1].split(), sys.argv[2].split()
missing = []
for name in required + optional:
    try:
        importlib.import_module(name)
    except ImportError as e:
        if name in required:
            missing.append(name)
        print("build-fp-python: module", name, "not available:", e, file=sys.stderr)
if missing:
    sys.exit("missing required modules: " + " ".join(missing))
' "$REQUIRED_MODULES" "$OPTIONAL_MODULES"
for m in $OPTIONAL_MODULES; do
    ./python -c "import $m" 2>/dev/null || log "note: optional module $m is not available"
done

# --- install -----------------------------------------------------------------
# Install into a staging dir, then copy into $PREFIX with bin/python3.11 last,
# so that an interrupted run never leaves something that passes the cache check.
STAGE="$WORK/stage"
log "make install (staged)"
run_logged "make install" make install DESTDIR="$STAGE"
[[ -x "$STAGE$PREFIX/bin/python3.11" ]] || die "make install did not produce $STAGE$PREFIX/bin/python3.11"

if [[ -n "$WHEEL_DIR" ]]; then
    mkdir -p "$STAGE$WHEEL_DIR"
    cp /usr/share/python-wheels/pip-*.whl /usr/share/python-wheels/setuptools-*.whl "$STAGE$WHEEL_DIR/"
fi

log "installing into $PREFIX"
as_root mkdir -p "$PREFIX/bin"
as_root rm -f "$PY"
(cd "$STAGE$PREFIX" && tar --exclude=./bin/python3.11 -cf - .) | as_root tar -C "$PREFIX" -xf -
as_root cp -p "$STAGE$PREFIX/bin/python3.11" "$PY.tmp.$$"
as_root mv -f "$PY.tmp.$$" "$PY"

# --- verify ------------------------------------------------------------------
log "verifying the installed interpreter"
"$PY" -c 'import sys; print("build-fp-python:", sys.version.replace("\n", " "))'
if ! has_fp_flags "$PY"; then
    as_root rm -f "$PY"
    die "$PY -m sysconfig does not show no-omit-frame-pointer"
fi
log "sysconfig CFLAGS: $("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS"))')"
VENV="$WORK/venv-check"
if ! "$PY" -m venv "$VENV" >>"$BUILD_LOG" 2>&1 || ! pip_version="$("$VENV/bin/pip" --version)"; then
    tail -n 30 "$BUILD_LOG" >&2 || true
    as_root rm -f "$PY"
    die "$PY -m venv could not make a venv with a working pip"
fi
log "venv check: $pip_version"

log "done in $((SECONDS - START_TIME))s"
log "python: $PY"
