#!/usr/bin/env bash
# The Kotlin/JVM package as a user meets it, on its default path:
#   1. `scripts/package-kotlin.sh`, with no argument and none of its PAYSEAL_* overrides, exactly
#      as bindings/kotlin/README.md tells a user: release build of sdk-core (the stripped cdylib
#      the jar carries, the static library uniffi-bindgen reads), Kotlin generated, `mvn install`
#      of dev.payseal:payseal-kotlin into the local Maven repository;
#   2. the jar's native library is the stripped release one (no symbol table);
#   3. bindings/kotlin/consumer-test/, copied to a fresh folder outside the repository (so nothing
#      of the build tree is reachable from it), is a Maven project whose only PaySeal dependency is
#      those coordinates (no jna.library.path, no LD_LIBRARY_PATH): `mvn test` verifies a sandbox
#      purchase against a real `payseal-verifier dev` over pinned TLS.
#
#   scripts/test-kotlin-package.sh
# Uses PAYSEAL_VERIFIER_BIN, PAYSEAL_SANDBOX_BIN when set (scripts/test-bindings.sh exports them);
# otherwise builds them (debug). Prints how long the packaging took.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"
need_tool cargo "install Rust with rustup: https://rustup.rs"
need_tool mvn "apt-get install -y maven"
need_tool curl "apt-get install -y curl"
need_tool python3 "apt-get install -y python3"
need_tool unzip "apt-get install -y unzip"
need_tool readelf "apt-get install -y binutils"

TARGET=$(cargo_target_dir)
need_dev_bins

log "scripts/package-kotlin.sh (default path, as the README says)"
t0=$(date +%s)
env -u PAYSEAL_CDYLIB -u PAYSEAL_BINDINGS_DIR -u PAYSEAL_NATIVE_EXTRA "$REPO/scripts/package-kotlin.sh"
t_pkg=$(( $(date +%s) - t0 ))

VERSION=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "$REPO/bindings/kotlin/pom.xml" | head -n 1)
JAR="${PAYSEAL_M2_REPO:-$HOME/.m2/repository}/dev/payseal/payseal-kotlin/$VERSION/payseal-kotlin-$VERSION.jar"
WORK=$(mktemp -d /tmp/payseal-kotlin-package.XXXXXX)
unzip -q -o "$JAR" 'linux-x86-64/libpayseal_sdk_core.so' -d "$WORK/jar"
SO="$WORK/jar/linux-x86-64/libpayseal_sdk_core.so"
! readelf -S "$SO" | grep -q '\.symtab' || die "the jar's $(basename "$SO") has a symbol table: the release library was not stripped"
trap stop_consumer_verifier EXIT
start_consumer_verifier "$WORK"

# The consumer project, copied outside the repository: it reaches PaySeal only through ~/.m2.
CONSUMER="$WORK/consumer"
cp -R "$REPO/bindings/kotlin/consumer-test" "$CONSUMER"
rm -rf "$CONSUMER/target"
MVN=(mvn -B -Dstyle.color=never -f "$CONSUMER/pom.xml")
[ "${PAYSEAL_MVN_OFFLINE:-0}" = 1 ] && MVN+=(-o)
log "consumer project ($CONSUMER): mvn test with only dev.payseal:payseal-kotlin (no jna.library.path)"
# Nothing of the build may point JNA at cargo's folder: no jna.library.path, no LD_LIBRARY_PATH.
(cd "$CONSUMER" && env -u LD_LIBRARY_PATH -u DYLD_LIBRARY_PATH \
  PAYSEAL_CONSUMER_APP=dev.payseal.demo \
  PAYSEAL_CONSUMER_PROFILE="$WORK/state/profile.json" \
  PAYSEAL_CONSUMER_CA="$WORK/state/tls/cert.pem" \
  PAYSEAL_CONSUMER_RECEIPT="$WORK/receipt.json" \
  PAYSEAL_CONSUMER_CARGO_TARGET="$TARGET" \
  "${MVN[@]}" clean test)
stop_consumer_verifier
rm -rf "$WORK"
echo "OK kotlin package: scripts/package-kotlin.sh (default path) took ${t_pkg}s; the installed dev.payseal:payseal-kotlin, used from a Maven project outside the repository, verified against a real verifier"
