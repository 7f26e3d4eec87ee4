#!/usr/bin/env bash
# Run one command inside the Debian sid root that scripts/debian-sid-root.sh
# makes, with what the command needs of the host mounted in:
#   /proc, /sys, /dev          (perf needs all three)
#   /tmp                       (perf maps and jitdumps live there; shared
#                              with the host, or $PERFTRAMP_SID_TMP when set:
#                              a private directory mounted as /tmp, so that
#                              nobody else's process or test run on the host
#                              sees or removes the files in it)
#   the work tree              (this repository, at the same path, read-write)
#   local package directories  (the ones the host's pip configuration and
#                              PIP_* variables name, read-only, so pip inside
#                              the root sees the same index as the host's)
#   $PERFTRAMP_SID_BIND        (colon-separated extra paths, same path inside)
#
# Usage: scripts/in-sid.sh [--root DIR] CMD [ARG...]
#   DIR defaults to ${PERFTRAMP_SID_ROOT:-/opt/perftramp-sid}.
#
# The mounts are made in a mount namespace of the command's own
# (`unshare -m`, private propagation): they vanish when the command ends,
# however it ends, and the host never sees them.  The working directory is
# kept when it exists inside the root (the work tree does), else it is /.
# PATH is the root's; the rest of the environment passes through.  Needs root.
set -euo pipefail

log() { printf 'in-sid: %s\n' "$*" >&2; }
die() { printf 'in-sid: error: %s\n' "$*" >&2; exit 1; }

ROOTDIR="${PERFTRAMP_SID_ROOT:-/opt/perftramp-sid}"
if [[ "${1:-}" == "--root" ]]; then
    ROOTDIR="$2"
    shift 2
fi
[[ $# -gt 0 ]] || die "usage: in-sid.sh [--root DIR] CMD [ARG...]"
ROOTDIR="${ROOTDIR%/}"

if [[ "${_PERFTRAMP_IN_SID_NS:-}" != "$ROOTDIR" ]]; then
    [[ $EUID -eq 0 ]] || die "must run as root"
    [[ -x "$ROOTDIR/usr/bin/env" ]] || die "no root at $ROOTDIR: run scripts/debian-sid-root.sh"
    # Again, in a new mount namespace; the part below does the mounting.
    _PERFTRAMP_IN_SID_NS="$ROOTDIR" exec unshare --mount --propagation private -- \
        "$0" --root "$ROOTDIR" "$@"
fi
unset _PERFTRAMP_IN_SID_NS

REPO="$(cd "$(dirname "$0")/.." && pwd)"

bind() { # bind HOST_PATH [ro]: the same path inside the root
    local src="$1" dst="$ROOTDIR$1"
    [[ -e "$src" ]] || return 0
    if [[ -d "$src" ]]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; touch "$dst"; fi
    mount --rbind "$src" "$dst"
    if [[ "${2:-}" == ro ]]; then mount -o remount,bind,ro "$dst" 2>/dev/null || true; fi
}

# The root on itself first: / inside is then a mount point, so that a
# command there can make its own mount namespace (unshare -m changes the
# propagation of /, which fails on a plain directory).
mount --bind "$ROOTDIR" "$ROOTDIR"
bind /proc
bind /sys
bind /dev
if [[ -n "${PERFTRAMP_SID_TMP:-}" ]]; then
    mkdir -p "$PERFTRAMP_SID_TMP"
    chmod 1777 "$PERFTRAMP_SID_TMP"
    mkdir -p "$ROOTDIR/tmp"
    mount --bind "$PERFTRAMP_SID_TMP" "$ROOTDIR/tmp"
else
    bind /tmp
fi
bind "$REPO"

# Local paths named by the host's pip configuration (find-links, file://
# index URLs, constraint files) and PIP_* variables.
pip_paths() {
    local f
    for f in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
        [[ -f "$f" ]] && grep -v '^[[:space:]]*[#;]' "$f"
    done
    env | grep '^PIP_' || true
} 2>/dev/null
for p in $(pip_paths | grep -oE '(file://)?/[^[:space:]"]+' | sed 's|^file://||' | sort -u); do
    # an index URL names .../simple: mount the directory it lies in
    [[ -e "$p" ]] || continue
    case "$p" in /etc/* | /proc/* | /sys/* | /dev/* | /tmp/* | "$REPO"*) continue ;; esac
    [[ "$(basename "$p")" == simple ]] && p="$(dirname "$p")"
    bind "$p" ro
done

if [[ -n "${PERFTRAMP_SID_BIND:-}" ]]; then
    IFS=: read -r -a extra <<<"$PERFTRAMP_SID_BIND"
    for p in "${extra[@]}"; do [[ -n "$p" ]] && bind "$p"; done
fi

cwd="$PWD"
[[ -d "$ROOTDIR$cwd" ]] || cwd=/
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset PYENV_ROOT PYENV_VERSION VIRTUAL_ENV
exec chroot "$ROOTDIR" /bin/sh -c 'cd "$1" && shift && exec "$@"' in-sid "$cwd" "$@"
