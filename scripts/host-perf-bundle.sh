#!/usr/bin/env bash
# host-perf-bundle.sh DIR: the host's perf (Debian bookworm: 6.1) with the
# shared libraries it needs, in DIR, runnable inside the Debian sid root
# (scripts/in-sid.sh mounts the work tree there at the same path) as
# DIR/bin/perf.  So the sid root's interpreters (3.15 above all) are tested
# with perf 6.1 as well as with the root's own perf 7.x.
#
# The sid root's C library is newer than the host's, and a program linked
# against an older glibc runs on a newer one; every other library perf links
# is copied from the host.  DIR/bin/perf starts perf through the dynamic
# loader with --library-path, which, unlike LD_LIBRARY_PATH, is not
# inherited: the program perf record starts loads the root's own libraries.
# Cached: a DIR whose stamp names this host perf is reused.
set -euo pipefail
DIR="${1:?usage: host-perf-bundle.sh DIR}"
PERF="$(command -v perf)" || { echo "host-perf-bundle: no perf on the host" >&2; exit 1; }
# Debian's /usr/bin/perf may be a wrapper script picking perf_X.Y by kernel
# version; take the binary that would run.  (The ELF magic is read directly:
# `file` is not in a minimal Debian.)
if [[ "$(head -c 4 "$PERF" | tail -c 3)" != "ELF" ]]; then
    PERF="$(ls /usr/bin/perf_[0-9]* 2>/dev/null | sort -V | tail -n 1)"
fi
STAMP="$(sha256sum "$PERF" | cut -d' ' -f1)"
if [[ -f "$DIR/.stamp" && "$(cat "$DIR/.stamp")" == "$STAMP" ]]; then
    exit 0
fi
rm -rf -- "$DIR"
mkdir -p "$DIR/bin" "$DIR/lib"
ABS_DIR="$(cd "$DIR" && pwd)"
cp "$PERF" "$DIR/perf.real"
# The C library and its loader stay the root's (newer, compatible); so do
# libgcc_s and libstdc++ (likewise).
ldd "$PERF" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
    case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libgcc_s.so.*|libstdc++.so.*) ;;
    *) cp -L "$lib" "$DIR/lib/" ;;
    esac
done
LOADER="$(readelf -l "$PERF" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
cat > "$DIR/bin/perf" <<WRAP
#!/bin/sh
exec $LOADER --library-path $ABS_DIR/lib $ABS_DIR/perf.real "\$@"
WRAP
chmod +x "$DIR/bin/perf"
echo "$STAMP" > "$DIR/.stamp"
echo "host-perf-bundle: $("$DIR/bin/perf" version) in $DIR"
