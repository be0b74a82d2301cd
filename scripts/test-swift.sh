#!/usr/bin/env bash
# Swift tests of the PaySeal bindings: `swift test` (XCTest) inside the Debian trixie
# chroot made by scripts/swift-env.sh, linked against the host cdylib.
#
#   PAYSEAL_CDYLIB=target/debug/libpayseal_sdk_core.so \
#   PAYSEAL_BINDINGS_DIR=target/bindings \
#   scripts/test-swift.sh [extra swift test args...]
#
# Required env:
#   PAYSEAL_CDYLIB        the Rust cdylib (lib<name>.so)
#   PAYSEAL_BINDINGS_DIR  uniffi-bindgen Swift output (or a folder with swift/ inside):
#                         PaySeal.swift (any *.swift), PaySealFFI.h, PaySealFFI.modulemap
# Optional env:
#   PAYSEAL_SWIFT_TESTS   XCTest sources (default bindings/swift/Tests/PaySealTests)
#   PAYSEAL_SWIFT_STAGE   where the package is assembled (default
#                         bindings/swift/.build/stage; must be inside the repo or
#                         listed in PAYSEAL_SWIFT_EXTRA_MOUNTS)
#   PAYSEAL_SWIFT_CHROOT, PAYSEAL_SWIFT_EXTRA_MOUNTS   see scripts/swift-env.sh
#   PAYSEAL_VERIFIER_BIN, PAYSEAL_SANDBOX_BIN, PAYSEAL_WORK_DIR   what the PaySeal tests
#                         use (scripts/test-bindings.sh sets them); made absolute, and
#                         their folders bind-mounted when outside the repo
#   anything the tests read (PAYSEAL_PROFILE, PAYSEAL_STATE_DIR, ...) is passed through;
#   files they name must be visible in the chroot: inside the repo, or their folders
#   are bind-mounted automatically for PAYSEAL_PROFILE and PAYSEAL_STATE_DIR.
# The chroot shares the host's network, so a verifier on 127.0.0.1 is reachable.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
SWIFT_ENV="$REPO/scripts/swift-env.sh"
PKG="$REPO/bindings/swift"

[ "$(id -u)" -eq 0 ] || die "must run as root (the Swift chroot needs chroot and mount)"
"$SWIFT_ENV" status >/dev/null \
  || die "the Swift chroot is missing or incomplete ($("$SWIFT_ENV" path)). Create it once (≈2 min, ≈2.6 GB): $SWIFT_ENV setup"

require_cdylib
GEN=$(bindings_dir swift)
# The C module must be PaySealFFI (the generated Swift does `import PaySealFFI`); the
# Swift file is named after module_name (PaySeal.swift), but any *.swift is taken.
for f in PaySealFFI.h PaySealFFI.modulemap; do
  [ -f "$GEN/$f" ] || die "$GEN/$f missing. Generate the Swift bindings with the Swift module name PaySeal (uniffi.toml: module_name = \"PaySeal\", ffi_module_name \"PaySealFFI\" by default) (found: $(cd "$GEN" && ls | tr '\n' ' '))"
done
GEN_SWIFT=("$GEN"/*.swift)
[ -f "${GEN_SWIFT[0]}" ] || die "no generated *.swift in $GEN"
TESTS=$(abs_path "${PAYSEAL_SWIFT_TESTS:-$PKG/Tests/PaySealTests}") \
  || die "PAYSEAL_SWIFT_TESTS=${PAYSEAL_SWIFT_TESTS:-} does not exist"
find "$TESTS" -name '*.swift' -print -quit | grep -q . || die "no Swift tests (*.swift) under $TESTS"

# Assemble the package: committed files + generated files + tests.
STAGE=${PAYSEAL_SWIFT_STAGE:-$PKG/.build/stage}
case "$STAGE" in /*) ;; *) STAGE="$PWD/$STAGE" ;; esac
mkdir -p "$STAGE"
rm -rf "$STAGE/Sources" "$STAGE/Tests"
mkdir -p "$STAGE/Sources" "$STAGE/Tests/PaySealTests"
cp "$PKG/Package.swift" "$STAGE/"
cp -R "$PKG/Sources/." "$STAGE/Sources/"
cp -R "$TESTS/." "$STAGE/Tests/PaySealTests/"
cp "${GEN_SWIFT[@]}" "$STAGE/Sources/PaySeal/"
mkdir -p "$STAGE/Sources/PaySealFFI/include"
cp "$GEN/PaySealFFI.h" "$STAGE/Sources/PaySealFFI/include/PaySealFFI.h"
cp "$GEN/PaySealFFI.modulemap" "$STAGE/Sources/PaySealFFI/include/module.modulemap"

# Folders outside the repo that the chroot must see.
mounts=${PAYSEAL_SWIFT_EXTRA_MOUNTS:-}
add_mount() { case "$1/" in "$REPO"/*) ;; *) mounts="${mounts:+$mounts:}$1" ;; esac; }
add_mount "$LIB_DIR"
add_mount "$(abs_path "$STAGE")"
[ -n "${PAYSEAL_PROFILE:-}" ] && add_mount "$(dirname "$(abs_path "$PAYSEAL_PROFILE" || die "PAYSEAL_PROFILE=$PAYSEAL_PROFILE does not exist")")"
if [ -n "${PAYSEAL_STATE_DIR:-}" ]; then mkdir -p "$PAYSEAL_STATE_DIR"; add_mount "$(abs_path "$PAYSEAL_STATE_DIR")"; fi
# The tests spawn the verifier and the sandbox store from inside the chroot (host-built
# binaries run there: trixie's glibc is newer than the host's) and keep their state in
# PAYSEAL_WORK_DIR; all must be visible at the same absolute paths.
for v in PAYSEAL_VERIFIER_BIN PAYSEAL_SANDBOX_BIN; do
  if [ -n "${!v:-}" ]; then
    f=$(abs_path "${!v}") || die "$v=${!v} does not exist"
    export "$v=$f"; add_mount "$(dirname "$f")"
  fi
done
if [ -n "${PAYSEAL_WORK_DIR:-}" ]; then
  mkdir -p "$PAYSEAL_WORK_DIR"; PAYSEAL_WORK_DIR=$(abs_path "$PAYSEAL_WORK_DIR"); export PAYSEAL_WORK_DIR
  add_mount "$PAYSEAL_WORK_DIR"
fi

log "cdylib $CDYLIB; bindings $GEN; tests $TESTS; package staged in $STAGE"
cd "$STAGE"
# XCTest only: its closing line "Executed N tests, with M failures" is the result.
# (Swift Testing also works in this toolchain; disabled so no "0 tests" line from it.)
PAYSEAL_SWIFT_EXTRA_MOUNTS="$mounts" \
PAYSEAL_LIB_DIR="$LIB_DIR" PAYSEAL_LIB_NAME="$LIB_NAME" \
LD_LIBRARY_PATH="$LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  exec "$SWIFT_ENV" run -- swift test \
    --package-path "$STAGE" \
    --disable-swift-testing \
    -j "${PAYSEAL_SWIFT_JOBS:-2}" \
    -Xswiftc -module-cache-path -Xswiftc "$STAGE/.build/module-cache" \
    "$@"
