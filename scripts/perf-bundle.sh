#!/usr/bin/env bash
# perf-bundle.sh [--from ROOT] DIR: a perf with the shared libraries it
# needs, in DIR, runnable as DIR/bin/perf on a system other than its own.
#
#   perf-bundle.sh DIR              the host's perf (Debian bookworm: 6.1),
#                                   to run inside the Debian sid root
#                                   (scripts/in-sid.sh mounts the work tree
#                                   there at the same path), so the sid
#                                   root's interpreters meet perf 6.1 too
#   perf-bundle.sh --from ROOT DIR  the perf of the root at ROOT (the sid
#                                   root: 7.x), to run on the host, so the
#                                   host's interpreters (3.8-3.13, the
#                                   frame-pointer builds) meet perf 7.x too
#
# A program linked against an older glibc runs on a newer one, not the other
# way round.  So the host's perf inside sid keeps the root's C library, its
# loader, libgcc_s and libstdc++, and takes every other library from the
# host; the root's perf on the host takes all of them from the root, the C
# library and the loader included.  DIR/bin/perf starts perf through that
# loader with --library-path, which, unlike LD_LIBRARY_PATH, is not
# inherited: the program perf record starts loads its own system's
# libraries.  Cached: a DIR whose stamp names the same perf is reused.
set -euo pipefail
FROM=/
if [[ "${1:-}" == "--from" ]]; then
    FROM="${2:?usage: perf-bundle.sh [--from ROOT] DIR}"
    shift 2
fi
DIR="${1:?usage: perf-bundle.sh [--from ROOT] DIR}"
FROM="${FROM%/}"
# in_from CMD...: CMD as the perf's own system sees it (ldd must resolve
# against that system's libraries).
in_from() { if [[ -z "$FROM" ]]; then "$@"; else chroot "$FROM" "$@"; fi; }

PERF="$(in_from sh -c 'command -v perf')" || {
    echo "perf-bundle: no perf in ${FROM:-the host}" >&2; exit 1; }
# Debian's /usr/bin/perf may be a wrapper script picking perf_X.Y by kernel
# version; take the binary that would run.  (The ELF magic is read directly:
# `file` is not in a minimal Debian.)
if [[ "$(head -c 4 "$FROM$PERF" | tail -c 3)" != "ELF" ]]; then
    PERF="$(cd "$FROM/" && ls usr/bin/perf_[0-9]* 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$PERF" ]] || { echo "perf-bundle: $FROM/usr/bin/perf is no ELF file and has no perf_X.Y beside it" >&2; exit 1; }
    PERF="/$PERF"
fi
STAMP="$(sha256sum "$FROM$PERF" | cut -d' ' -f1)"
if [[ -f "$DIR/.stamp" && "$(cat "$DIR/.stamp")" == "$STAMP" ]]; then
    exit 0
fi
rm -rf -- "$DIR"
mkdir -p "$DIR/bin" "$DIR/lib"
ABS_DIR="$(cd "$DIR" && pwd)"
cp "$FROM$PERF" "$DIR/perf.real"
libs="$(in_from ldd "$PERF" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')"
for lib in $libs; do
    if [[ -z "$FROM" ]]; then
        case "$(basename "$lib")" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libgcc_s.so.*|libstdc++.so.*) continue ;;
        esac
    fi
    cp -L "$FROM$lib" "$DIR/lib/"
done
LOADER="$(readelf -l "$FROM$PERF" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
[[ -n "$LOADER" ]] || { echo "perf-bundle: $FROM$PERF names no program interpreter" >&2; exit 1; }
if [[ -n "$FROM" ]]; then
    cp -L "$FROM$LOADER" "$DIR/lib/"
    LOADER="$ABS_DIR/lib/$(basename "$LOADER")"
fi
cat > "$DIR/bin/perf" <<WRAP
#!/bin/sh
exec $LOADER --library-path $ABS_DIR/lib $ABS_DIR/perf.real "\$@"
WRAP
chmod +x "$DIR/bin/perf"
version="$("$DIR/bin/perf" version)" || { echo "perf-bundle: the perf in $DIR does not run" >&2; exit 1; }
echo "$STAMP" > "$DIR/.stamp"
echo "perf-bundle: $version in $DIR"
