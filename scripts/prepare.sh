#!/usr/bin/env bash
# What `make test` needs, installed or built where it is missing, so that on
# a fresh Debian machine `make test` alone runs every test; where everything
# is there already it changes nothing, needs no root, and takes well under a
# second (each step looks at what is installed before it does anything):
#
#   Debian packages     perf, the native and aarch64 cross compilers with
#                       qemu-user, clang with its libFuzzer/sanitizer runtime,
#                       python3-dev/-venv, clang-format, chromium (the flame
#                       graph's tests), crun (a real container runtime, for
#                       tests/python/test_oci.py), golang-go, pprof's
#                       profile.proto and protoc (the pprof format's tests:
#                       Go's own pprof reads what report writes); dpkg-query
#                       first, apt-get update only when one is missing
#   build/tools         `make tools` (again when the Makefile changes): meson,
#                       ninja, meson-python, pytest, ruff (a venv: the
#                       system python3 may be externally managed, PEP 668)
#   frame-pointer 3.11  scripts/build-fp-python.sh  (/opt/perftramp-fp)
#   frame-pointer 3.14, free-threaded 3.14t
#                       scripts/build-python314.sh  (/opt/perftramp-py314),
#                       from ../shared/cpython's source tarball
#   the Debian sid root scripts/debian-sid-root.sh  (/opt/perftramp-sid:
#                       python3.14, python3.15, perf 7.x)
#   CPython 3.13's test_perf_profiler.py
#                       scripts/fetch-cpython-tests.sh  (build/cpython-tests)
#
# The builds take about 10 minutes each on 2 cores the first time; each is
# cached where it is installed.  Installing needs root.
#
# With PERFTRAMP_REQUIRE_FP set (CI), a missing CPython source tarball fails
# the preparation; without it the 3.14 builds are left out, saying so, and
# their tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'prepare: %s\n' "$*"; }
die() { printf 'prepare: error: %s\n' "$*" >&2; exit 1; }

PACKAGES=(
    linux-perf util-linux elfutils
    crun
    build-essential python3-dev python3-venv libzstd-dev zlib1g-dev
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
    clang clang-format
    chromium
    golang-go golang-github-google-pprof-dev protobuf-compiler
)

# missing_packages PKG...: those not installed, one a line
missing_packages() {
    local name status p
    local -A installed=()
    while read -r name status; do
        if [[ "$status" == installed ]]; then installed[$name]=1; fi
    done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null)
    for p; do
        if [[ -z "${installed[$p]:-}" ]]; then echo "$p"; fi
    done
}

updated=
apt_install() {
    [[ $EUID -eq 0 ]] || die "must run as root to install: $*"
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z "$updated" ]]; then
        apt-get update -qq
        updated=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null </dev/null
}

mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi
# clang's libFuzzer and sanitizer runtime, of its own major version
# (bookworm: 14), for `make fuzz`
clang_rt="libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"
mapfile -t missing < <(missing_packages "$clang_rt")
if ((${#missing[@]})); then
    log "installing $clang_rt"
    apt_install "$clang_rt"
fi

# build/tools: made again only when the Makefile has changed
if ! make -q tools; then
    log "build/tools: make tools"
    make -s --no-print-directory tools
fi

scripts/build-fp-python.sh
if [[ -n "${PERFTRAMP_REQUIRE_FP:-}" ]]; then
    scripts/build-python314.sh
else
    scripts/build-python314.sh --if-source
fi
scripts/debian-sid-root.sh
scripts/fetch-cpython-tests.sh
log "everything make test needs is here"
