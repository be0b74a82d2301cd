#!/usr/bin/env bash
# The Kotlin/JVM package as a user consumes it: scripts/package-kotlin.sh installs
# dev.payseal:payseal-kotlin (native library inside, JNA resource layout) into the local Maven
# repository, then bindings/kotlin/consumer-test/ (a separate Maven project whose only PaySeal
# dependency is those coordinates, no jna.library.path) verifies a sandbox purchase against a
# real `payseal-verifier dev` over pinned TLS.
#
#   scripts/test-kotlin-package.sh
# Uses PAYSEAL_CDYLIB, PAYSEAL_BINDINGS_DIR, PAYSEAL_VERIFIER_BIN, PAYSEAL_SANDBOX_BIN when set
# (scripts/test-bindings.sh exports them); otherwise builds them (debug).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"
need_tool cargo "install Rust with rustup: https://rustup.rs"
need_tool mvn "apt-get install -y maven"
need_tool curl "apt-get install -y curl"
need_tool python3 "apt-get install -y python3"

TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ -z "${PAYSEAL_VERIFIER_BIN:-}" ] || [ -z "${PAYSEAL_SANDBOX_BIN:-}" ] || [ -z "${PAYSEAL_CDYLIB:-}" ]; then
  log "cargo build (debug): payseal-sdk-core, payseal-verifier, payseal-sandbox"
  cargo build -q -p payseal-sdk-core --lib
  cargo build -q -p payseal-verifier -p payseal-sandbox --bins --features payseal-verifier/dev
  export PAYSEAL_CDYLIB="$TARGET/debug/libpayseal_sdk_core.so"
  PAYSEAL_VERIFIER_BIN="$TARGET/debug/payseal-verifier" PAYSEAL_SANDBOX_BIN="$TARGET/debug/payseal-sandbox"
fi

"$REPO/scripts/package-kotlin.sh"

WORK=$(mktemp -d /tmp/payseal-kotlin-package.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$PAYSEAL_VERIFIER_BIN" dev --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" >"$WORK/verifier.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 900); do
  [ -f "$WORK/state/profile.json" ] && curl -fsS --cacert "$WORK/state/tls/cert.pem" "https://localhost:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { cat "$WORK/verifier.log"; die "the verifier exited"; }
  sleep 0.1
done
curl -fsS --cacert "$WORK/state/tls/cert.pem" "https://localhost:$PORT/healthz" >/dev/null || { cat "$WORK/verifier.log"; die "the verifier did not come up"; }
"$PAYSEAL_SANDBOX_BIN" google-play --dir "$WORK/state" --app dev.payseal.demo --product gems_100 >"$WORK/receipt.json"

MVN=(mvn -B -Dstyle.color=never -f "$REPO/bindings/kotlin/consumer-test/pom.xml")
[ "${PAYSEAL_MVN_OFFLINE:-0}" = 1 ] && MVN+=(-o)
log "consumer project: mvn test with only dev.payseal:payseal-kotlin (no jna.library.path)"
# Nothing of the build may point JNA at cargo's folder: no jna.library.path, no LD_LIBRARY_PATH.
env -u LD_LIBRARY_PATH -u DYLD_LIBRARY_PATH \
  PAYSEAL_CONSUMER_APP=dev.payseal.demo \
  PAYSEAL_CONSUMER_PROFILE="$WORK/state/profile.json" \
  PAYSEAL_CONSUMER_CA="$WORK/state/tls/cert.pem" \
  PAYSEAL_CONSUMER_RECEIPT="$WORK/receipt.json" \
  PAYSEAL_CONSUMER_CARGO_TARGET="$TARGET" \
  "${MVN[@]}" clean test
rm -rf "$WORK"
echo "OK kotlin package: the installed dev.payseal:payseal-kotlin verified against a real verifier"
