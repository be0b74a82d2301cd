#!/usr/bin/env bash
# Kotlin, Swift and Unity (C# on Mono) tests of the PaySeal SDK, against the real verifier
# over pinned TLS with sealed envelopes:
#   1. cargo build (debug) of payseal-sdk-core (cdylib), payseal-verifier, payseal-sandbox,
#      and payseal-mitm (payseal-attacks: the TLS-terminating relay of the attack tests);
#   2. Kotlin and Swift bindings generated in library mode with the workspace's uniffi-bindgen
#      and the root uniffi.toml, into <target>/bindings/{kotlin,swift};
#   3. scripts/test-kotlin.sh (Maven, JUnit 5), scripts/test-swift.sh (XCTest in the Debian
#      trixie chroot) and scripts/test-unity.sh (bindings/unity: the payseal-unity cdylib and
#      its C# package compiled with mcs, NUnit 2.6 on mono). Each language's tests start and
#      stop their own `payseal-verifier dev` processes (free ports, state dirs under
#      PAYSEAL_WORK_DIR);
#   4. each language's package on its default path, used from a project outside the repository:
#      scripts/test-kotlin-package.sh (jar, Maven), scripts/test-swift-release.sh (release
#      Package.swift, SwiftPM), scripts/test-unity-package.sh (tarball, Mono).
#
#   scripts/test-bindings.sh            Kotlin, Swift and Unity
#   scripts/test-bindings.sh kotlin     one language (kotlin | swift | unity)
#   scripts/test-bindings.sh generate   build + generate only
#
# Needs: cargo; for Kotlin java 17+ and mvn; for Swift root and a ready chroot
# (scripts/swift-env.sh setup); for Unity mcs, mono, nunit-console (Debian: mono-mcs
# mono-runtime nunit-console libnunit-cil-dev). A missing tool is an error, never a skip.
# Env (all optional):
#   PAYSEAL_WORK_DIR   test state (verifier state dirs, pending dirs, logs); default a fresh
#                      /tmp/payseal-bindings.XXXXXX, deleted after a green run, kept otherwise
#   PAYSEAL_KEEP_WORK=1  keep the work dir after a green run too
#   PAYSEAL_MVN_OFFLINE=1, PAYSEAL_SWIFT_CHROOT, ...: see scripts/test-kotlin.sh, test-swift.sh
# Exports to the test scripts (absolute paths): PAYSEAL_CDYLIB, PAYSEAL_BINDINGS_DIR,
# PAYSEAL_VERIFIER_BIN, PAYSEAL_SANDBOX_BIN, PAYSEAL_MITM_BIN, PAYSEAL_WORK_DIR.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"

what=${1:-all}
case "$what" in
  all) langs=(kotlin swift unity) ;;
  kotlin | swift | unity) langs=("$what") ;;
  generate) langs=() ;;
  *) die "usage: ${0##*/} [all|kotlin|swift|unity|generate]" ;;
esac

# --- tools first: fail before a long build, with the install hint -----------------------------
need_tool cargo "install Rust with rustup: https://rustup.rs"
for lang in "${langs[@]}"; do
  case "$lang" in
    kotlin)
      need_tool java "apt-get install -y default-jdk-headless (JDK 17+)"
      need_tool mvn "apt-get install -y maven"
      ;;
    swift)
      [ "$(id -u)" -eq 0 ] || die "the Swift tests need root (chroot, mount)"
      "$REPO/scripts/swift-env.sh" status >/dev/null \
        || die "the Swift chroot is not ready: run $REPO/scripts/swift-env.sh setup (≈2 min, ≈2.6 GB)"
      ;;
    unity)
      for t in mcs mono nunit-console; do
        need_tool "$t" "apt-get install -y --no-install-recommends mono-mcs mono-runtime nunit-console libnunit-cil-dev"
      done
      ;;
  esac
done

t_start=$(date +%s)
secs() { echo $(( $(date +%s) - $1 ))s; }

# --- build ------------------------------------------------------------------------------------
TARGET=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$TARGET" ] || die "cannot find cargo's target directory (cargo metadata failed)"
log "cargo build (debug): payseal-sdk-core, payseal-verifier, payseal-sandbox, payseal-mitm, uniffi-bindgen"
t0=$(date +%s)
cargo build -q -p payseal-sdk-core -p payseal-verifier -p payseal-sandbox -p uniffi-bindgen --features payseal-verifier/dev
cargo build -q -p payseal-attacks --bin payseal-mitm
t_build=$(secs "$t0")
CDYLIB="$TARGET/debug/libpayseal_sdk_core.so"
VERIFIER_BIN="$TARGET/debug/payseal-verifier"
SANDBOX_BIN="$TARGET/debug/payseal-sandbox"
MITM_BIN="$TARGET/debug/payseal-mitm"
for f in "$CDYLIB" "$VERIFIER_BIN" "$SANDBOX_BIN" "$MITM_BIN"; do
  [ -f "$f" ] || die "$f was not built"
done

# --- bindings (library mode; 0.32 reads uniffi.toml only in its [crates.<lib>] global form) ---
BINDINGS="$TARGET/bindings"
t0=$(date +%s)
for lang in kotlin swift; do
  rm -rf "${BINDINGS:?}/$lang"
  cargo run -q -p uniffi-bindgen -- generate --library "$CDYLIB" --config "$REPO/uniffi.toml" \
    --language "$lang" --out-dir "$BINDINGS/$lang" --no-format \
    || die "uniffi-bindgen generate --language $lang failed"
done
t_gen=$(secs "$t0")
# 0.32 ignores a config it does not understand with only a warning: check the names came out.
KT="$BINDINGS/kotlin/dev/payseal/payseal.kt"
[ -f "$KT" ] && grep -q '^package dev\.payseal$' "$KT" \
  || die "Kotlin bindings not generated as package dev.payseal (found: $(cd "$BINDINGS/kotlin" && find . -name '*.kt' | tr '\n' ' ')); check uniffi.toml"
for f in PaySeal.swift PaySealFFI.h PaySealFFI.modulemap; do
  [ -f "$BINDINGS/swift/$f" ] \
    || die "Swift bindings lack $f (found: $(ls "$BINDINGS/swift" | tr '\n' ' ')); check uniffi.toml (module_name PaySeal, ffi_module_name PaySealFFI)"
done
log "bindings in $BINDINGS ($(wc -l <"$KT") lines of Kotlin, $(wc -l <"$BINDINGS/swift/PaySeal.swift") of Swift)"
[ ${#langs[@]} -gt 0 ] || { log "generated only (build $t_build, bindgen $t_gen)"; exit 0; }

# --- run --------------------------------------------------------------------------------------
if [ -n "${PAYSEAL_WORK_DIR:-}" ]; then
  mkdir -p "$PAYSEAL_WORK_DIR"
  WORK=$(abs_path "$PAYSEAL_WORK_DIR")
  owned_work=0
else
  WORK=$(mktemp -d /tmp/payseal-bindings.XXXXXX)
  owned_work=1
fi
LOGS="$TARGET/test-logs"
mkdir -p "$LOGS"

export PAYSEAL_CDYLIB="$CDYLIB" PAYSEAL_BINDINGS_DIR="$BINDINGS" \
  PAYSEAL_VERIFIER_BIN="$VERIFIER_BIN" PAYSEAL_SANDBOX_BIN="$SANDBOX_BIN" \
  PAYSEAL_MITM_BIN="$MITM_BIN"

summary=()
failed=()
for lang in "${langs[@]}"; do
  mkdir -p "$WORK/$lang"
  t0=$(date +%s)
  log "$lang tests (state in $WORK/$lang, log $LOGS/bindings-$lang.log)"
  rc=0
  PAYSEAL_WORK_DIR="$WORK/$lang" "$REPO/scripts/test-$lang.sh" 2>&1 | tee "$LOGS/bindings-$lang.log" \
    || rc=$?
  case "$lang" in
    kotlin) # surefire's closing "Tests run: N, Failures: F, Errors: E, Skipped: S"
      line=$(grep -E '^\[(INFO|ERROR|WARNING)\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' \
        "$LOGS/bindings-$lang.log" | tail -n 1 | sed 's/^\[[A-Z]*\] //')
      if [ -n "$line" ] && ! echo "$line" | grep -q 'Skipped: 0$'; then
        [ "$rc" -ne 0 ] || rc=1; line="$line (skipped tests are failures here)"
      fi ;;
    swift) # XCTest's closing "Executed N tests, with F failures ..."
      line=$(grep -E '^[[:space:]]*Executed [0-9]+ tests?, with ' "$LOGS/bindings-$lang.log" | tail -n 1 | sed 's/^[[:space:]]*//')
      if echo "$line" | grep -q 'skipped'; then
        [ "$rc" -ne 0 ] || rc=1; line="$line (skipped tests are failures here)"
      fi ;;
    unity) # scripts/test-unity.sh's closing "N passed, N failed" (not run counts as failed)
      line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOGS/bindings-$lang.log" | tail -n 1) ;;
  esac
  [ -n "$line" ] || { line="no test summary found"; [ "$rc" -ne 0 ] || rc=1; }
  summary+=("$lang: $line [$(secs "$t0")]")
  [ "$rc" -eq 0 ] || failed+=("$lang")
done

# --- the packages on their default paths, used from projects outside the repository -----------
# (release builds: the Kotlin jar's and the Swift release package's sdk-core is one compilation,
# the Unity tarball's payseal-unity another; each script prints how long its packaging took)
for lang in "${langs[@]}"; do
  case "$lang" in
    kotlin) check=test-kotlin-package what="jar from scripts/package-kotlin.sh, Maven consumer project" ;;
    swift) check=test-swift-release what="release package from scripts/swift-release-package.sh, SwiftPM consumer package" ;;
    unity) check=test-unity-package what="tarball from scripts/package-unity.sh, C# program on Mono" ;;
  esac
  t0=$(date +%s)
  log "$lang package ($what; log $LOGS/bindings-$lang-package.log)"
  if "$REPO/scripts/$check.sh" 2>&1 | tee "$LOGS/bindings-$lang-package.log"; then
    # (the last line; Maven's -q may leave colour resets before it)
    summary+=("$lang package: $(tail -n 1 "$LOGS/bindings-$lang-package.log" | grep -o 'OK .*') [$(secs "$t0")]")
  else
    summary+=("$lang package: FAILED [$(secs "$t0")]")
    failed+=("$lang-package")
  fi
done
echo
echo "bindings tests (build $t_build, bindgen $t_gen, total $(secs "$t_start")):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (state kept in $WORK; logs in $LOGS/bindings-*.log)" >&2
  exit 1
fi
if [ "$owned_work" = 1 ] && [ "${PAYSEAL_KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; else log "state kept in $WORK"; fi
echo "OK bindings: ${langs[*]}"
