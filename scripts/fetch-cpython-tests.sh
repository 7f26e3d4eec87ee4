#!/usr/bin/env bash
# Fetch the CPython test files the conformance suite runs that no source here
# holds: Lib/test/test_perf_profiler.py of CPython 3.13, from Debian's
# libpython3.13-testsuite package (sid's, through the root that
# scripts/debian-sid-root.sh makes, with its apt sources).  The .deb is kept
# in build/cpython-tests/ (cached: nothing is fetched when it is there) and
# read by tests/python/test_cpython_perf_suite.py at test time; 3.14's file
# comes from the source tarball in ../shared/cpython.
#
# Usage: scripts/fetch-cpython-tests.sh      (needs root, like the sid root)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="$PWD/build/cpython-tests"
PACKAGE=libpython3.13-testsuite

if compgen -G "$DEST/${PACKAGE}_*.deb" >/dev/null; then
    echo "fetch-cpython-tests: cached: $(basename "$(ls "$DEST/${PACKAGE}"_*.deb | tail -n 1)")"
    exit 0
fi
mkdir -p "$DEST.partial"
# apt-get download as root warns that _apt cannot write the directory; it
# downloads all the same.
scripts/in-sid.sh sh -c 'cd "$1" && apt-get download -q "$2"' fetch "$DEST.partial" "$PACKAGE" \
    >"$DEST.partial.log" 2>&1 || { cat "$DEST.partial.log" >&2; exit 1; }
deb=$(ls "$DEST.partial/${PACKAGE}"_*.deb)
# The file the suite needs must be in it.
listing=$(dpkg-deb --fsys-tarfile "$deb" | tar -t)
grep -qx './usr/lib/python3.13/test/test_perf_profiler.py' <<<"$listing" ||
    { echo "fetch-cpython-tests: $deb has no test_perf_profiler.py" >&2; exit 1; }
mkdir -p "$DEST"
mv "$deb" "$DEST/"
rm -rf "$DEST.partial" "$DEST.partial.log"
echo "fetch-cpython-tests: $(basename "$deb")"
