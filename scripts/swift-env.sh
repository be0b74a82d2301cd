#!/usr/bin/env bash
# Swift toolchain for PaySeal on a Debian 12 host: a Debian 13 (trixie) chroot
# with Debian's `swiftlang`, created once and reused.
#
#   scripts/swift-env.sh setup              create the chroot (idempotent)
#   scripts/swift-env.sh run -- CMD ARGS... run CMD inside it, same cwd
#   scripts/swift-env.sh status             print whether it is ready (exit 1 if not)
#   scripts/swift-env.sh path               print the chroot directory
#   scripts/swift-env.sh remove             unmount leftovers and delete the chroot
#                                           (never `rm -rf` it by hand while a run is active:
#                                           the repo is bind-mounted inside it)
#
# Environment:
#   PAYSEAL_SWIFT_CHROOT        chroot directory (default: <repo>/.swift-chroot)
#   PAYSEAL_DEBIAN_MIRROR       Debian mirror for debootstrap (default: the one
#                               the host's apt uses, else http://deb.debian.org/debian)
#   PAYSEAL_SWIFT_EXTRA_MOUNTS  colon-separated absolute host paths to bind-mount
#                               at the same path inside the chroot for `run`
#                               (the repo itself is always mounted)
#
# `run` mounts /proc, /dev (bind) and the repo (bind, at the same absolute path)
# and unmounts them on exit, also on failure. Runs are serialised with a lock,
# so two concurrent `run`s never unmount each other's mounts. Needs root.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$SCRIPT_DIR/.." && pwd -P)
CHROOT=${PAYSEAL_SWIFT_CHROOT:-$REPO/.swift-chroot}
SUITE=trixie
MARKER_NAME=.payseal-swift-ready
# swiftlang: compiler, swift build/test, Foundation, XCTest, Swift Testing.
# libc6-dev: headers + crt files for linking. Nothing else turned out to be needed
# (swiftlang brings its own clang, lld, swift-format, XCTest and Swift Testing).
CHROOT_PACKAGES=(swiftlang libc6-dev)
# Bump when CHROOT_PACKAGES changes: a chroot with an older marker is upgraded.
MARKER_VERSION=1

die() { echo "swift-env: ERROR: $*" >&2; exit 1; }
log() { echo "swift-env: $*" >&2; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and mount need it); try: sudo $0 $*"
}

# Absolute, symlink-free form of the chroot path (it may not exist yet).
canon_chroot() {
  case "$CHROOT" in /*) ;; *) CHROOT="$PWD/$CHROOT" ;; esac
  mkdir -p "$(dirname "$CHROOT")"
  CHROOT="$(cd "$(dirname "$CHROOT")" && pwd -P)/$(basename "$CHROOT")"
  [ "$CHROOT" != "/" ] || die "refusing to use / as the chroot"
}

# The Debian mirror the host's apt uses (deb822 .sources or one-line .list).
host_mirror() {
  if [ -n "${PAYSEAL_DEBIAN_MIRROR:-}" ]; then echo "$PAYSEAL_DEBIAN_MIRROR"; return; fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'tolower($1)=="uris:" {for (i=2;i<=NF;i++) print $i}' "$f" \
          | grep -E '/debian/?$' | head -n1 || true)
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" \
          | grep -E '/debian/?$' | head -n1 || true)
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  echo "http://deb.debian.org/debian"
}

# Mount points at or below $1, deepest first (from /proc/self/mountinfo).
mounts_under() {
  local root=$1
  awk -v r="$root" '{ mp=$5; gsub(/\\040/, " ", mp); if (mp==r || index(mp, r "/")==1) print mp }' \
    /proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

unmount_all_under() {
  local mp
  while IFS= read -r mp; do
    [ -n "$mp" ] || continue
    mountpoint -q "$mp" 2>/dev/null || continue
    umount "$mp" 2>/dev/null || umount -l "$mp" || log "warning: could not unmount $mp"
  done < <(mounts_under "$1")
}

MOUNTED=()
cleanup_mounts() {
  local i
  for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do
    umount -R "${MOUNTED[$i]}" 2>/dev/null || umount -R -l "${MOUNTED[$i]}" 2>/dev/null \
      || log "warning: could not unmount ${MOUNTED[$i]}"
  done
  MOUNTED=()
}

bind_same_path() { # host path -> same path inside the chroot
  local src=$1 dst="$CHROOT$1"
  [ -d "$src" ] || die "cannot mount $src: not a directory"
  mkdir -p "$dst"
  mount --bind "$src" "$dst"; MOUNTED+=("$dst")
}

mount_base() {
  mkdir -p "$CHROOT/proc" "$CHROOT/dev"
  mount -t proc proc "$CHROOT/proc"; MOUNTED+=("$CHROOT/proc")
  mount --rbind /dev "$CHROOT/dev"; mount --make-rslave "$CHROOT/dev"; MOUNTED+=("$CHROOT/dev")
}

lock_chroot() {
  command -v flock >/dev/null || die "flock not found; install it: apt-get install -y util-linux"
  # The lock lives outside the repo (only /.swift-chroot is git-ignored).
  local lockdir=/run/lock; [ -d "$lockdir" ] && [ -w "$lockdir" ] || lockdir=/tmp
  exec 9>"$lockdir/payseal-swift-env.$(printf '%s' "$CHROOT" | cksum | cut -d' ' -f1).lock"
  if ! flock -n 9; then
    log "waiting for another swift-env.sh using $CHROOT ..."
    flock 9
  fi
}

in_chroot() { # run a command in the chroot with a clean, predictable environment
  chroot "$CHROOT" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

is_ready() {
  [ -f "$CHROOT/$MARKER_NAME" ] && [ "$(cat "$CHROOT/$MARKER_NAME")" = "$MARKER_VERSION" ] \
    && [ -x "$CHROOT/usr/bin/swiftc" ]
}

cmd_setup() {
  need_root setup
  canon_chroot
  mkdir -p "$(dirname "$CHROOT")"
  lock_chroot
  if is_ready; then log "chroot ready at $CHROOT"; return 0; fi

  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap on the host (apt-get update && apt-get install -y debootstrap)"
    command -v apt-get >/dev/null || die "debootstrap missing and no apt-get: install debootstrap by hand"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap \
      || die "could not install debootstrap: apt-get install -y debootstrap"
  fi

  local mirror t0
  mirror=$(host_mirror)
  t0=$(date +%s)
  if [ -e "$CHROOT" ] && { [ ! -x "$CHROOT/usr/bin/apt-get" ] || [ ! -f "$CHROOT/.payseal-debootstrap-done" ]; }; then
    log "removing half-made chroot $CHROOT"
    unmount_all_under "$CHROOT"
    [ -z "$(mounts_under "$CHROOT")" ] || die "mounts remain under $CHROOT; unmount them and retry"
    rm -rf --one-file-system "$CHROOT"
  fi
  if [ ! -f "$CHROOT/.payseal-debootstrap-done" ]; then
    log "debootstrap --variant=minbase $SUITE $CHROOT $mirror"
    local kr=()
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
      && kr=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    local dlog; dlog=$(mktemp /tmp/payseal-debootstrap.XXXXXX.log)
    if ! debootstrap "${kr[@]}" --variant=minbase "$SUITE" "$CHROOT" "$mirror" >"$dlog" 2>&1; then
      tail -n 30 "$dlog" >&2 || true
      unmount_all_under "$CHROOT"
      die "debootstrap failed (full log: $dlog); rerun setup to retry from scratch"
    fi
    mv "$dlog" "$CHROOT/root/payseal-debootstrap.log"
    touch "$CHROOT/.payseal-debootstrap-done"
    log "debootstrap done in $(( $(date +%s) - t0 ))s"
  fi

  trap cleanup_mounts EXIT
  cp -L /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true
  mount_base
  local t1; t1=$(date +%s)
  log "installing ${CHROOT_PACKAGES[*]} inside the chroot"
  local alog="$CHROOT/root/payseal-apt.log"
  if ! { in_chroot apt-get update -qq && \
         in_chroot apt-get install -y -qq --no-install-recommends "${CHROOT_PACKAGES[@]}"; } >"$alog" 2>&1; then
    tail -n 30 "$alog" >&2 || true
    die "apt-get install ${CHROOT_PACKAGES[*]} inside the chroot failed (log: $alog); rerun setup to retry"
  fi
  in_chroot apt-get clean
  in_chroot swiftc --version >&2 || die "swiftc does not run inside the chroot"
  echo "$MARKER_VERSION" >"$CHROOT/$MARKER_NAME"
  cleanup_mounts
  trap - EXIT
  log "packages installed in $(( $(date +%s) - t1 ))s; chroot ready at $CHROOT (total $(( $(date +%s) - t0 ))s)"
}

cmd_run() {
  need_root run
  canon_chroot
  is_ready || die "Swift chroot not ready at $CHROOT; create it first: $SCRIPT_DIR/swift-env.sh setup"
  [ $# -gt 0 ] || die "usage: swift-env.sh run -- CMD ARGS..."
  local cwd; cwd=$(pwd -P)
  lock_chroot
  trap cleanup_mounts EXIT
  trap 'exit 130' INT TERM
  mount_base
  bind_same_path "$REPO"
  local extra p
  if [ -n "${PAYSEAL_SWIFT_EXTRA_MOUNTS:-}" ]; then
    IFS=: read -r -a extra <<<"$PAYSEAL_SWIFT_EXTRA_MOUNTS"
    for p in "${extra[@]}"; do
      [ -n "$p" ] || continue
      case "$p" in /*) ;; *) die "PAYSEAL_SWIFT_EXTRA_MOUNTS entries must be absolute: $p" ;; esac
      p=$(cd "$p" && pwd -P) || die "cannot mount $p: no such directory"
      case "$p/" in "$REPO"/*) continue ;; esac   # already visible through the repo
      bind_same_path "$p"
    done
  fi
  [ -d "$CHROOT$cwd" ] || die "current directory $cwd is not visible inside the chroot; cd into the repo or add it to PAYSEAL_SWIFT_EXTRA_MOUNTS"
  # Pass the caller's environment through, except what would point at host binaries.
  local rc=0
  chroot "$CHROOT" /usr/bin/env \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    /bin/sh -c 'cd "$1" && shift && exec "$@"' swift-env-run "$cwd" "$@" || rc=$?
  exit "$rc"
}

cmd_remove() { # never a plain rm -rf: a live bind mount would take the repo with it
  need_root remove
  canon_chroot
  lock_chroot
  unmount_all_under "$CHROOT"
  [ -z "$(mounts_under "$CHROOT")" ] || die "mounts remain under $CHROOT; not removing"
  rm -rf --one-file-system "$CHROOT"
  log "removed $CHROOT"
}

cmd_status() {
  canon_chroot
  if is_ready; then echo "ready: $CHROOT"; else echo "not ready: $CHROOT (run: $SCRIPT_DIR/swift-env.sh setup)"; exit 1; fi
}

case "${1:-}" in
  setup) shift; cmd_setup "$@" ;;
  run) shift; [ "${1:-}" = "--" ] && shift; cmd_run "$@" ;;
  status) cmd_status ;;
  path) canon_chroot; echo "$CHROOT" ;;
  remove) cmd_remove ;;
  *) echo "usage: $0 setup | run -- CMD ARGS... | status | path | remove" >&2; exit 2 ;;
esac
