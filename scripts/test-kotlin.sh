#!/usr/bin/env bash
# Kotlin/JVM tests of the PaySeal bindings, run by Maven against the host cdylib.
#
#   PAYSEAL_CDYLIB=target/debug/libpayseal_sdk_core.so \
#   PAYSEAL_BINDINGS_DIR=target/bindings \
#   scripts/test-kotlin.sh [extra mvn args...]
#   scripts/test-kotlin.sh prefetch          # download Maven plugins/deps only (CI warm-up)
#
# Required env:
#   PAYSEAL_CDYLIB        the Rust cdylib (lib<name>.so); its folder goes to jna.library.path
#   PAYSEAL_BINDINGS_DIR  uniffi-bindgen Kotlin output (or a folder with kotlin/ inside)
# Optional env:
#   PAYSEAL_KOTLIN_SOURCES  hand-written Kotlin (default bindings/kotlin/src/main/kotlin)
#   PAYSEAL_KOTLIN_TESTS    Kotlin tests        (default bindings/kotlin/src/test/kotlin)
#   PAYSEAL_MVN_OFFLINE=1   run Maven with -o (after a prefetch)
#   PAYSEAL_VERIFIER_BIN, PAYSEAL_SANDBOX_BIN, PAYSEAL_WORK_DIR   what the PaySeal tests use
#                           (the verifier and sandbox binaries, a folder for their state);
#                           scripts/test-bindings.sh sets them
#   anything the tests read (PAYSEAL_PROFILE, PAYSEAL_STATE_DIR, PAYSEAL_VERIFIER_URL, ...)
#   is passed through unchanged to the test JVM.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"

need_tool java "apt-get install -y openjdk-17-jdk-headless"
need_tool mvn "apt-get install -y maven"
java_major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
[ "${java_major%%.*}" -ge 17 ] 2>/dev/null || die "Java 17+ required, found ${java_major:-unknown}: apt-get install -y openjdk-17-jdk-headless"

POM_DIR="$REPO/bindings/kotlin"
MVN=(mvn -B -Dstyle.color=never -f "$POM_DIR/pom.xml")
[ "${PAYSEAL_MVN_OFFLINE:-0}" = 1 ] && MVN+=(-o)

if [ "${1:-}" = prefetch ]; then
  # Resolve everything a test run needs without any bindings: dependencies, plugins,
  # and surefire's JUnit Platform provider, which go-offline alone misses (surefire
  # resolves it only when there is a test to run, hence the throwaway test).
  shift
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/gen" "$tmp/main" "$tmp/test/prefetch"
  printf 'package prefetch\nclass PrefetchTest { @org.junit.jupiter.api.Test fun ok() {} }\n' \
    >"$tmp/test/prefetch/PrefetchTest.kt"
  "${MVN[@]}" -q dependency:go-offline -Dpayseal.generated="$tmp/gen" "$@"
  "${MVN[@]}" -q clean test -Dpayseal.generated="$tmp/gen" -Dpayseal.sources="$tmp/main" \
    -Dpayseal.tests="$tmp/test" "$@" >/dev/null
  "${MVN[@]}" -q clean "$@"
  log "Maven plugins and dependencies prefetched into the local Maven repository"
  exit 0
fi

require_cdylib
GEN=$(bindings_dir kotlin)
find "$GEN" -name '*.kt' -print -quit | grep -q . \
  || die "no generated Kotlin (*.kt) under $GEN; run uniffi-bindgen generate --language kotlin"
SOURCES=$(abs_path "${PAYSEAL_KOTLIN_SOURCES:-$POM_DIR/src/main/kotlin}") \
  || die "PAYSEAL_KOTLIN_SOURCES=${PAYSEAL_KOTLIN_SOURCES:-} does not exist"
TESTS=$(abs_path "${PAYSEAL_KOTLIN_TESTS:-$POM_DIR/src/test/kotlin}") \
  || die "PAYSEAL_KOTLIN_TESTS=${PAYSEAL_KOTLIN_TESTS:-} does not exist"
find "$TESTS" -name '*.kt' -print -quit | grep -q . || die "no Kotlin tests (*.kt) under $TESTS"

log "cdylib $CDYLIB; bindings $GEN; tests $TESTS"
# clean: a previous run with other test sources must not leave classes behind.
exec "${MVN[@]}" clean test \
  -Dpayseal.generated="$GEN" \
  -Dpayseal.lib.dir="$LIB_DIR" \
  -Dpayseal.sources="$SOURCES" \
  -Dpayseal.tests="$TESTS" \
  "$@"
