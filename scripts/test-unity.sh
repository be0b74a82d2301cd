#!/usr/bin/env bash
# Unity C# package tests on Mono, against real `payseal-verifier dev` processes over pinned TLS:
#   1. cargo build (debug): payseal-unity (the cdylib the C# package loads), payseal-verifier,
#      payseal-sandbox, payseal-mitm; build.rs regenerates Runtime/Native/NativeMethods.g.cs with
#      csbindgen, which must then equal the committed file;
#   2. every asset of the package has its .meta (scripts/lib/unity-package.py check); the package
#      is packed as Unity's tarball (scripts/package-unity.sh tarball) and mcs compiles the
#      Runtime/ found in that tarball (C# 7, warnings are errors), then bindings/unity/Tests;
#   3. NUnit 2.6 (Debian's nunit-console) runs the tests on mono in one process and one AppDomain.
#      Mono exits by itself afterwards: results and log events reach C# on one thread of the
#      library, never the SDK's tokio threads (which live as long as the process and which Mono
#      would wait for forever once attached), and the C# layer ends that thread with
#      payseal_shutdown on ProcessExit (bindings/unity/src/dispatch.rs). A hang is still bounded
#      (PAYSEAL_UNITY_TIMEOUT, default 600 s) and then reported as a failure.
# Prints `N passed, N failed` last (skipped, ignored or inconclusive tests count as failed); the
# exit status is non-zero unless every test ran and passed.
#
#   scripts/test-unity.sh [extra nunit-console args, e.g. -run=PaySeal.Tests.OfflineTests]
#
# Needs: cargo, python3, and Debian's mono-mcs mono-runtime nunit-console libnunit-cil-dev
# (.ci/run installs them). A missing tool is an error, never a skip.
# Env (optional): PAYSEAL_WORK_DIR (test state; default a fresh /tmp/payseal-unity.XXXXXX,
# deleted after a green run), PAYSEAL_KEEP_WORK=1, NUNIT_FRAMEWORK (nunit.framework.dll),
# PAYSEAL_UNITY_TIMEOUT (seconds for the whole NUnit run).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"

apt_hint="apt-get install -y --no-install-recommends mono-mcs mono-runtime nunit-console libnunit-cil-dev"
need_tool cargo "install Rust with rustup: https://rustup.rs"
need_tool python3 "apt-get install -y python3"
need_tool mcs "$apt_hint"
need_tool mono "$apt_hint"
need_tool nunit-console "$apt_hint"
NUNIT=${NUNIT_FRAMEWORK:-$(ls /usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll 2>/dev/null | tail -n 1)}
[ -n "$NUNIT" ] && [ -f "$NUNIT" ] || die "nunit.framework.dll (NUnit 2.6) not found under /usr/lib/cli: $apt_hint (or set NUNIT_FRAMEWORK)"

TARGET=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$TARGET" ] || die "cannot find cargo's target directory (cargo metadata failed)"

log "cargo build (debug): payseal-unity, payseal-verifier, payseal-sandbox, payseal-mitm"
cargo build -q -p payseal-unity -p payseal-verifier -p payseal-sandbox --features payseal-verifier/dev
cargo build -q -p payseal-attacks --bin payseal-mitm
LIB="$TARGET/debug/libpayseal_unity.so"
for f in "$LIB" "$TARGET/debug/payseal-verifier" "$TARGET/debug/payseal-sandbox" "$TARGET/debug/payseal-mitm"; do
  [ -f "$f" ] || die "$f was not built"
done
GEN=bindings/unity/Runtime/Native/NativeMethods.g.cs
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && git ls-files --error-unmatch "$GEN" >/dev/null 2>&1; then
  git diff --quiet -- "$GEN" || die "$GEN differs from the committed file after csbindgen ran: commit the regenerated bindings (git diff $GEN)"
fi

OUT="$TARGET/unity"
rm -rf "$OUT"; mkdir -p "$OUT/tarball"
log "package: .meta files, tarball"
python3 scripts/lib/unity-package.py check bindings/unity
TGZ=$(scripts/package-unity.sh tarball "$OUT/tarball")
tar -xzf "$TGZ" -C "$OUT/tarball"
PKG="$OUT/tarball/package"
for f in package.json package.json.meta README.md.meta Runtime/PaySeal.Runtime.asmdef.meta Runtime/Native/NativeMethods.g.cs; do
  [ -f "$PKG/$f" ] || die "the tarball lacks package/$f"
done
! tar -tzf "$TGZ" | grep -E '(Native~|Tests|\.rs$|Cargo)' || die "the tarball holds the crate or the tests"
log "mcs: Runtime (from $(basename "$TGZ")) -> $OUT/PaySeal.Runtime.dll, Tests -> $OUT/PaySeal.Tests.dll"
mcs -nologo -target:library -unsafe -langversion:7 -warnaserror -out:"$OUT/PaySeal.Runtime.dll" \
  -r:System.dll -r:System.Core.dll -recurse:"$PKG/Runtime/*.cs"
mcs -nologo -target:library -unsafe -langversion:7 -out:"$OUT/PaySeal.Tests.dll" \
  -r:System.dll -r:System.Core.dll -r:"$OUT/PaySeal.Runtime.dll" -r:"$NUNIT" -recurse:'bindings/unity/Tests/*.cs'
cp "$NUNIT" "$OUT/"

if [ -n "${PAYSEAL_WORK_DIR:-}" ]; then
  mkdir -p "$PAYSEAL_WORK_DIR"; WORK=$(abs_path "$PAYSEAL_WORK_DIR"); owned_work=0
else
  WORK=$(mktemp -d /tmp/payseal-unity.XXXXXX); owned_work=1
fi
log "tests (state in $WORK)"
rc=0
(cd "$OUT" && PAYSEAL_VERIFIER_BIN="$TARGET/debug/payseal-verifier" PAYSEAL_SANDBOX_BIN="$TARGET/debug/payseal-sandbox" \
  PAYSEAL_MITM_BIN="$TARGET/debug/payseal-mitm" PAYSEAL_WORK_DIR="$WORK" \
  LD_LIBRARY_PATH="$(dirname "$LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  timeout "${PAYSEAL_UNITY_TIMEOUT:-600}" nunit-console -nologo -labels -domain=None -process=Single -noshadow \
    -xml="$OUT/TestResult.xml" PaySeal.Tests.dll "$@") || rc=$?

[ -f "$OUT/TestResult.xml" ] || { echo "0 passed, 1 failed (no TestResult.xml: nunit-console exited with $rc)"; exit 1; }
summary=$(python3 - "$OUT/TestResult.xml" "$rc" <<'PY'
import sys, xml.etree.ElementTree as ET
passed = failed = 0
for case in ET.parse(sys.argv[1]).iter("test-case"):
    if case.get("executed") == "True" and case.get("result") == "Success":
        passed += 1
    else:
        failed += 1
        print("FAILED or not run: %s (%s)" % (case.get("name"), case.get("result")), file=sys.stderr)
rc = int(sys.argv[2])
if rc != 0 and failed == 0:
    failed = 1
    print("FAILED: nunit-console exited with %d after the tests (124: killed by the PAYSEAL_UNITY_TIMEOUT timeout)" % rc, file=sys.stderr)
print("%d passed, %d failed" % (passed, failed))
PY
)
if [ "$rc" -eq 0 ] && [ "$owned_work" = 1 ] && [ "${PAYSEAL_KEEP_WORK:-0}" != 1 ] && echo "$summary" | grep -q ' 0 failed$'; then
  rm -rf "$WORK"
else
  log "state kept in $WORK"
fi
echo "$summary"
echo "$summary" | grep -q '^[1-9][0-9]* passed, 0 failed$'
