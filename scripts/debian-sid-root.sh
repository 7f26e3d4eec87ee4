#!/usr/bin/env bash
# Make (or reuse) a Debian sid root holding the interpreters and the perf that
# the host's Debian release does not have: python3.14, python3.15 (with -dev
# and -venv) and linux-perf 7.x, plus what perftramp's build and tests need.
#
# Usage: scripts/debian-sid-root.sh [DIR]
#   DIR defaults to ${PERFTRAMP_SID_ROOT:-/opt/perftramp-sid}.
#
# The root is made with `debootstrap --variant=minbase sid` from the Debian
# mirror this machine's apt already uses (the only one CI can reach), into
# DIR.partial, and renamed to DIR when everything is installed: a DIR with
# the stamp file DIR/.perftramp-sid is complete, and the script then does
# nothing (cache hit).  Delete DIR to start again.
#
# pip inside the root must reach the same package index as the host's, so the
# host's CA bundle and pip configuration files are copied in; the local
# directories that configuration names are bind-mounted by scripts/in-sid.sh,
# which is how anything is run in the root (it mounts /proc, /sys, /dev, /tmp
# and the work tree, and the mounts vanish with the command).
#
# Needs root.  Runs non-interactively (CI).  Measured on 2 shared cores:
# see the timings this script prints (README, "Test matrix").
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOTDIR="${1:-${PERFTRAMP_SID_ROOT:-/opt/perftramp-sid}}"
ROOTDIR="${ROOTDIR%/}"
STAMP_NAME=".perftramp-sid"
# What the root is for.  Changing this list changes the stamp, so an older
# root is completed (apt-get install again) rather than trusted.
PACKAGES=(
    python3.14 python3.14-dev python3.14-venv
    python3.15 python3.15-dev python3.15-venv
    linux-perf build-essential pkg-config ca-certificates
    strace binutils libzstd-dev zlib1g-dev
)
STAMP_CONTENT="packages: ${PACKAGES[*]}"

log() { printf 'debian-sid-root: %s\n' "$*"; }
die() { printf 'debian-sid-root: error: %s\n' "$*" >&2; exit 1; }

case "$ROOTDIR" in /*) ;; *) die "DIR must be an absolute path (got '$ROOTDIR')" ;; esac

if [[ -f "$ROOTDIR/$STAMP_NAME" ]] && [[ "$(cat "$ROOTDIR/$STAMP_NAME")" == "$STAMP_CONTENT" ]]; then
    log "cached: $ROOTDIR is complete ($STAMP_NAME); nothing to do"
    exit 0
fi
[[ $EUID -eq 0 ]] || die "must run as root (debootstrap and chroot)"

START=$SECONDS
step_start=$SECONDS
step() { step_start=$SECONDS; log "$*"; }
step_done() { log "  ... $1 took $((SECONDS - step_start))s"; }

# The mirror: the first `deb` source of the host's apt that serves the
# distribution itself (not -security, -updates, or a third party's archive).
host_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk 'BEGIN { RS = "" }
            /(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ && !/(^|\n)Enabled:[ \t]*[Nn]o/ {
                n = split($0, l, "\n"); uri = ""; suites = ""
                for (i = 1; i <= n; i++) {
                    if (l[i] ~ /^URIs:/) { uri = l[i]; sub(/^URIs:[ \t]*/, "", uri); sub(/[ \t].*/, "", uri) }
                    if (l[i] ~ /^Suites:/) suites = l[i]
                }
                if (uri ~ /\/debian\/?$/ && suites !~ /security/) { print uri; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk '/^[ \t]*deb[ \t]/ {
                sub(/^[ \t]*deb[ \t]+(\[[^]]*\][ \t]+)?/, ""); split($0, w, /[ \t]+/)
                if (w[1] ~ /\/debian\/?$/ && w[2] !~ /security/) { print w[1]; exit }
            }' "$f"
    done
}
MIRROR="${PERFTRAMP_SID_MIRROR:-$(host_mirror | head -n 1)}"
[[ -n "$MIRROR" ]] || die "found no Debian mirror in /etc/apt/sources.list*; set PERFTRAMP_SID_MIRROR"
log "mirror: $MIRROR (from the host's apt sources)"

export DEBIAN_FRONTEND=noninteractive
PARTIAL="$ROOTDIR.partial"

if ! command -v debootstrap >/dev/null; then
    step "installing debootstrap on the host"
    apt-get install -y -q --no-install-recommends debootstrap >/dev/null </dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends debootstrap >/dev/null </dev/null; }
    step_done "installing debootstrap"
fi

if [[ -d "$ROOTDIR" ]]; then
    # A complete root from an older package list: finish it in place.
    TARGET="$ROOTDIR"
    log "completing $ROOTDIR (its stamp differs from this script's package list)"
else
    TARGET="$PARTIAL"
    if [[ ! -x "$PARTIAL/usr/bin/apt-get" ]]; then
        rm -rf -- "$PARTIAL"
        KEYRING=()
        [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] &&
            KEYRING=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
        step "debootstrap --variant=minbase sid $PARTIAL $MIRROR"
        if ! debootstrap --variant=minbase "${KEYRING[@]}" sid "$PARTIAL" "$MIRROR" \
            >"$ROOTDIR.debootstrap.log" 2>&1; then
            tail -n 30 "$ROOTDIR.debootstrap.log" >&2
            die "debootstrap failed (log: $ROOTDIR.debootstrap.log)"
        fi
        step_done "debootstrap"
    else
        log "reusing the debootstrapped $PARTIAL"
    fi
fi

# The host's name resolution, CA bundle and pip configuration.
step "copying resolv.conf, the CA bundle and the pip configuration in"
cp -L /etc/resolv.conf "$TARGET/etc/resolv.conf" 2>/dev/null || true
copy_in() { # copy_in HOST_PATH: same path inside the root
    [[ -e "$1" ]] || return 0
    mkdir -p "$TARGET$(dirname "$1")"
    cp -rL "$1" "$TARGET$1"
}
copy_in /etc/pip.conf
copy_in /etc/xdg/pip
copy_in "$HOME/.config/pip"
copy_in "$HOME/.pip"
for f in /etc/ssl/certs/ca-certificates.crt "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" "${REQUESTS_CA_BUNDLE:-}"; do
    [[ -n "$f" && -f "$f" ]] && copy_in "$f"
done
# Kept aside as well: installing ca-certificates regenerates the bundle
# from the root's own certificates, which may lack the host's local ones.
cp -L /etc/ssl/certs/ca-certificates.crt "$TARGET/etc/perftramp-host-ca.crt" 2>/dev/null || true
step_done "copying"

step "apt-get update inside the root"
"$HERE/in-sid.sh" --root "$TARGET" apt-get -q -o Acquire::Check-Valid-Until=false update \
    >"$ROOTDIR.apt.log" 2>&1 || { tail -n 30 "$ROOTDIR.apt.log" >&2; die "apt-get update failed"; }
step_done "apt-get update"

step "apt-get install ${PACKAGES[*]}"
"$HERE/in-sid.sh" --root "$TARGET" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${PACKAGES[@]}" >>"$ROOTDIR.apt.log" 2>&1 </dev/null ||
    { tail -n 30 "$ROOTDIR.apt.log" >&2; die "apt-get install failed (log: $ROOTDIR.apt.log)"; }
"$HERE/in-sid.sh" --root "$TARGET" apt-get clean
step_done "apt-get install"

# The host's bundle back on top (see above).
[[ -f "$TARGET/etc/perftramp-host-ca.crt" ]] &&
    cp "$TARGET/etc/perftramp-host-ca.crt" "$TARGET/etc/ssl/certs/ca-certificates.crt"

step "checking the root"
for exe in python3.14 python3.15 perf; do
    "$HERE/in-sid.sh" --root "$TARGET" "$exe" --version >/dev/null 2>&1 ||
        die "$exe does not run inside the root"
done
"$HERE/in-sid.sh" --root "$TARGET" sh -c \
    'python3.14 -VV; python3.15 -VV; perf --version' | sed 's/^/debian-sid-root:   /'
step_done "checking"

printf '%s\n' "$STAMP_CONTENT" >"$TARGET/$STAMP_NAME"
[[ "$TARGET" == "$ROOTDIR" ]] || mv -- "$TARGET" "$ROOTDIR"
log "done in $((SECONDS - START))s: $ROOTDIR"
