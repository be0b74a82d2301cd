# Shared helpers for scripts/test-kotlin.sh and scripts/test-swift.sh. Source it.
# shellcheck shell=bash disable=SC2034  # sourced: sets REPO, CDYLIB, LIB_DIR, LIB_NAME for the caller
# Sets REPO (from this file's location, never hard-coded).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)

die() { echo "${0##*/}: ERROR: $*" >&2; exit 1; }
log() { echo "${0##*/}: $*" >&2; }

# need_tool TOOL "how to install it"
need_tool() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH. Install it: $2"
}

# abs_path PATH -> absolute, symlink-resolved path of an existing file or folder
abs_path() {
  local p=$1
  [ -e "$p" ] || return 1
  if [ -d "$p" ]; then (cd "$p" && pwd -P); else echo "$(cd "$(dirname "$p")" && pwd -P)/$(basename "$p")"; fi
}

# require_cdylib: checks PAYSEAL_CDYLIB, sets CDYLIB, LIB_DIR, LIB_NAME
require_cdylib() {
  [ -n "${PAYSEAL_CDYLIB:-}" ] || die "set PAYSEAL_CDYLIB to the Rust cdylib, e.g. PAYSEAL_CDYLIB=\$REPO/target/debug/libpayseal_sdk_core.so (build it with cargo build -p payseal-sdk-core)"
  CDYLIB=$(abs_path "$PAYSEAL_CDYLIB") || die "PAYSEAL_CDYLIB=$PAYSEAL_CDYLIB does not exist; build it first (cargo build -p payseal-sdk-core)"
  [ -f "$CDYLIB" ] || die "PAYSEAL_CDYLIB=$CDYLIB is not a file"
  LIB_DIR=$(dirname "$CDYLIB")
  LIB_NAME=$(basename "$CDYLIB"); LIB_NAME=${LIB_NAME#lib}; LIB_NAME=${LIB_NAME%.so}
  case "$CDYLIB" in *.so) ;; *) die "PAYSEAL_CDYLIB must be a Linux shared library (lib<name>.so), got $CDYLIB" ;; esac
}

# bindings_dir LANG -> the generated-bindings folder for LANG (kotlin|swift):
# $PAYSEAL_BINDINGS_DIR/LANG if it exists, else $PAYSEAL_BINDINGS_DIR itself.
bindings_dir() {
  local lang=$1 d
  [ -n "${PAYSEAL_BINDINGS_DIR:-}" ] || die "set PAYSEAL_BINDINGS_DIR to the uniffi-bindgen output (a folder with $lang/ inside, or the $lang output itself); generate it with: cargo run --bin uniffi-bindgen -- generate --library \"\$PAYSEAL_CDYLIB\" --language $lang --out-dir DIR/$lang"
  d=$(abs_path "$PAYSEAL_BINDINGS_DIR") || die "PAYSEAL_BINDINGS_DIR=$PAYSEAL_BINDINGS_DIR does not exist"
  [ -d "$d/$lang" ] && d="$d/$lang"
  echo "$d"
}
