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

# cargo_target_dir -> cargo's target directory (honours CARGO_TARGET_DIR)
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# build_sdk_core_release [--target TRIPLE]: payseal-sdk-core as the packages ship it, from ONE
# release compilation (LTO, codegen-units 1): the cdylib, stripped by [profile.release] (what
# ships), and the static library, which rustc never strips (linkers strip archives, not rustc)
# and which therefore still holds the UNIFFI_META_* symbols uniffi-bindgen reads in library
# mode. uniffi-bindgen 0.32 finds no metadata in the stripped cdylib (issue 21).
# Extra cargo arguments (e.g. --target TRIPLE) are passed on. Prints the folder holding both.
build_sdk_core_release() {
  local dir triple=
  [ "${1:-}" = --target ] && triple=${2:?}
  cargo rustc -q --release --lib -p payseal-sdk-core "$@" --crate-type cdylib,staticlib >&2
  dir=$(cargo_target_dir)${triple:+/$triple}/release
  [ -f "$dir/libpayseal_sdk_core.a" ] || die "$dir/libpayseal_sdk_core.a was not produced"
  echo "$dir"
}

# generate_bindings LANG LIBRARY OUT_DIR: uniffi-bindgen (library mode, the workspace's binary,
# the root uniffi.toml) from LIBRARY, an unstripped library: the static library (.a) of
# build_sdk_core_release, or a debug cdylib. Checks the names the packages rely on came out
# (0.32 ignores a config it does not understand with only a warning).
generate_bindings() {
  local lang=$1 lib=$2 out=$3
  rm -rf "$out"
  cargo run -q -p uniffi-bindgen -- generate --library "$lib" --config "$REPO/uniffi.toml" \
    --language "$lang" --out-dir "$out" --no-format || die "uniffi-bindgen generate --language $lang --library $lib failed"
  case "$lang" in
    kotlin)
      grep -qs '^package dev\.payseal$' "$out/dev/payseal/payseal.kt" \
        || die "no Kotlin in package dev.payseal under $out (found: $(cd "$out" && find . -type f | tr '\n' ' ')); check uniffi.toml" ;;
    swift)
      local f
      for f in PaySeal.swift PaySealFFI.h PaySealFFI.modulemap; do
        [ -f "$out/$f" ] || die "uniffi-bindgen did not write $f (found: $(ls "$out" | tr '\n' ' ')); check uniffi.toml (module_name PaySeal, ffi_module_name PaySealFFI)"
      done ;;
  esac
}

# need_dev_bins: PAYSEAL_VERIFIER_BIN and PAYSEAL_SANDBOX_BIN, built (debug) when not both given
# (scripts/test-bindings.sh exports them).
need_dev_bins() {
  if [ -z "${PAYSEAL_VERIFIER_BIN:-}" ] || [ -z "${PAYSEAL_SANDBOX_BIN:-}" ]; then
    log "cargo build (debug): payseal-verifier, payseal-sandbox"
    cargo build -q -p payseal-verifier -p payseal-sandbox --bins --features payseal-verifier/dev
    local target; target=$(cargo_target_dir)
    PAYSEAL_VERIFIER_BIN="$target/debug/payseal-verifier" PAYSEAL_SANDBOX_BIN="$target/debug/payseal-sandbox"
  fi
}

# start_consumer_verifier WORK: a `payseal-verifier dev` on a free loopback port, state in
# WORK/state (profile.json, tls/cert.pem), and a sandbox Google Play purchase for app
# dev.payseal.demo in WORK/receipt.json, for the package consumer checks. Sets DEV_PID; stop it
# with stop_consumer_verifier.
start_consumer_verifier() {
  local work=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  "$PAYSEAL_VERIFIER_BIN" dev --listen "127.0.0.1:$port" --state-dir "$work/state" >"$work/verifier.log" 2>&1 &
  DEV_PID=$!
  for _ in $(seq 1 900); do
    [ -f "$work/state/profile.json" ] && curl -fsS --cacert "$work/state/tls/cert.pem" "https://localhost:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$DEV_PID" 2>/dev/null || { cat "$work/verifier.log"; die "the verifier exited"; }
    sleep 0.1
  done
  curl -fsS --cacert "$work/state/tls/cert.pem" "https://localhost:$port/healthz" >/dev/null || { cat "$work/verifier.log"; die "the verifier did not come up"; }
  "$PAYSEAL_SANDBOX_BIN" google-play --dir "$work/state" --app dev.payseal.demo --product gems_100 >"$work/receipt.json"
}

# stop_consumer_verifier: SIGTERM to the verifier start_consumer_verifier started, if any.
stop_consumer_verifier() {
  [ -z "${DEV_PID:-}" ] || { kill -TERM "$DEV_PID" 2>/dev/null || true; wait "$DEV_PID" 2>/dev/null || true; }
  DEV_PID=
}
