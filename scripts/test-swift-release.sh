#!/usr/bin/env bash
# The Swift release package (what an app adds by URL), as far as Linux can take it:
#   1. scripts/swift-release-package.sh on its default path: the Swift generated from this host's
#      release static library of sdk-core (uniffi-bindgen reads archives; the release cdylib is
#      stripped), written with a root-level Package.swift whose PaySealFFI is
#      `.binaryTarget(url:checksum:)`;
#   2. SwiftPM in the chroot accepts that manifest and source layout: `swift package describe`
#      and `dump-package` (the binary target carries the URL and the zip's checksum, which equals
#      `swift package compute-checksum`; no unsafeFlags); bad input is refused and writes nothing;
#   3. a consumer package outside the repository (bindings/swift/consumer-test, copied) depends
#      on a copy of that release package in which only the PaySealFFI target differs: the Linux
#      static library, with the generated header, as a system-library target (SwiftPM 6.0 on
#      Linux has no binary library targets, and an XCFramework needs Xcode). `swift build`,
#      then the consumer verifies a sandbox purchase against a real `payseal-verifier dev`.
# What needs Xcode is not run here: the XCFramework zip (the zip used is a stand-in with the
# XCFramework's name; its bytes only feed the checksum) and the macOS build
# (scripts/build-xcframework.sh).
#
#   scripts/test-swift-release.sh
# Needs root and the Swift chroot (scripts/swift-env.sh setup), cargo, python3, zip, curl. Uses
# PAYSEAL_VERIFIER_BIN, PAYSEAL_SANDBOX_BIN when set; otherwise builds them (debug).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"
[ "$(id -u)" -eq 0 ] || die "must run as root (the Swift chroot)"
"$REPO/scripts/swift-env.sh" status >/dev/null || die "the Swift chroot is not ready: run $REPO/scripts/swift-env.sh setup"
need_tool cargo "install Rust with rustup: https://rustup.rs"
need_tool python3 "apt-get install -y python3"
need_tool zip "apt-get install -y zip"
need_tool curl "apt-get install -y curl"

TARGET=$(cargo_target_dir)
need_dev_bins

# Outside the repository: the consumer must not see the build tree. The chroot mounts it.
WORK=$(mktemp -d /tmp/payseal-swift-release.XXXXXX)
trap stop_consumer_verifier EXIT
SWIFT=(env "PAYSEAL_SWIFT_EXTRA_MOUNTS=$WORK" "$REPO/scripts/swift-env.sh" run --)

# Stand-in for the XCFramework zip (xcodebuild -create-xcframework needs Xcode).
mkdir -p "$WORK/xcf/PaySealFFI.xcframework"
printf '<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n' >"$WORK/xcf/PaySealFFI.xcframework/Info.plist"
(cd "$WORK/xcf" && zip -q -r ../PaySealFFI.xcframework.zip PaySealFFI.xcframework)
URL=https://downloads.example.com/payseal/0.1.0/PaySealFFI.xcframework.zip

# Bad input is refused and writes nothing.
if "$REPO/scripts/swift-release-package.sh" --zip "$WORK/PaySealFFI.xcframework.zip" --url "http://x/PaySealFFI.xcframework.zip" \
  --out "$WORK/bad" 2>/dev/null; then die "an http:// URL was accepted"; fi
[ ! -e "$WORK/bad" ] || die "a refused run wrote $WORK/bad"

log "scripts/swift-release-package.sh (default path: Swift generated from the release static library)"
t0=$(date +%s)
"$REPO/scripts/swift-release-package.sh" --zip "$WORK/PaySealFFI.xcframework.zip" --url "$URL" --out "$WORK/release"
t_pkg=$(( $(date +%s) - t0 ))
REL_LIB="$TARGET/release/libpayseal_sdk_core.a"
GEN="$TARGET/swift-release/bindings"
[ -f "$REL_LIB" ] && [ -f "$GEN/PaySealFFI.h" ] || die "the release static library or the generated header is missing"

log "SwiftPM reads the release package: describe, dump-package, compute-checksum"
"${SWIFT[@]}" sh -c "cd '$WORK/release' && swift package describe --type json" >"$WORK/describe.json" ||
  die "SwiftPM does not accept the release package (swift package describe)"
"${SWIFT[@]}" sh -c "cd '$WORK/release' && swift package dump-package" >"$WORK/dump.json" ||
  die "SwiftPM cannot parse the release Package.swift"
"${SWIFT[@]}" swift package compute-checksum "$WORK/PaySealFFI.xcframework.zip" >"$WORK/swiftpm.checksum" ||
  die "swift package compute-checksum failed"
python3 - "$WORK" "$URL" <<'PY'
import hashlib, json, os, sys
work, url = sys.argv[1], sys.argv[2]
dump = json.load(open(f"{work}/dump.json"))
desc = json.load(open(f"{work}/describe.json"))
sha = hashlib.sha256(open(f"{work}/PaySealFFI.xcframework.zip", "rb").read()).hexdigest()
swiftpm = open(f"{work}/swiftpm.checksum").read().strip()
assert swiftpm == sha, f"SwiftPM's checksum {swiftpm} != SHA-256 {sha}"
targets = {t["name"]: t for t in dump["targets"]}
ffi = targets["PaySealFFI"]
assert ffi["type"] == "binary", ffi
assert ffi["url"] == url, ffi
assert ffi["checksum"] == sha, (ffi["checksum"], sha)
pay = targets["PaySeal"]
assert pay["type"] == "regular" and pay["dependencies"], pay
assert [p["name"] for p in dump["products"]] == ["PaySeal"], dump["products"]
manifest = open(f"{work}/release/Package.swift").read()
assert "unsafeFlags" not in manifest and "linkerSettings" not in manifest
# describe resolved the source layout: the PaySeal target's Swift files as SwiftPM sees them.
dtargets = {t["name"]: t for t in desc["targets"]}
srcs = sorted(dtargets["PaySeal"]["sources"])
assert "PaySeal.swift" in srcs and len(srcs) >= 2, srcs
assert dtargets["PaySealFFI"]["type"] == "binary", dtargets["PaySealFFI"]
print(f"release Package.swift: binaryTarget {ffi['url']} checksum {ffi['checksum'][:16]}… (= swift package compute-checksum); PaySeal sources {srcs}")
PY

# The consumer's copy of the release package: the same manifest and Sources/PaySeal, with only
# PaySealFFI swapped for the Linux static library (system-library target: header, module map
# with the link lines; the library folder is given to the consumer's link with -L).
PKG="$WORK/PaySeal"
cp -R "$WORK/release" "$PKG"
mkdir -p "$PKG/Sources/PaySealFFI" "$WORK/lib"
cp "$GEN/PaySealFFI.h" "$PKG/Sources/PaySealFFI/"
# Rust's std in a static library needs these (rustc --print native-static-libs on Linux).
cat >"$PKG/Sources/PaySealFFI/module.modulemap" <<'EOF'
module PaySealFFI [system] {
    header "PaySealFFI.h"
    link "payseal_sdk_core"
    link "gcc_s"
    link "util"
    link "rt"
    link "pthread"
    link "m"
    link "dl"
    export *
}
EOF
cp "$REL_LIB" "$WORK/lib/"
python3 - "$PKG/Package.swift" <<'PY'
import re, sys
path = sys.argv[1]
s = open(path).read()
binary = re.compile(r'\.binaryTarget\(\s*name: "PaySealFFI",\s*url: "[^"]+",\s*checksum: "[0-9a-f]{64}"\s*\)')
assert len(binary.findall(s)) == 1, "the release manifest has no single PaySealFFI binaryTarget(url:checksum:)"
open(path, "w").write(binary.sub('.systemLibrary(name: "PaySealFFI", path: "Sources/PaySealFFI")', s))
PY
cp -R "$REPO/bindings/swift/consumer-test" "$WORK/consumer"
rm -rf "$WORK/consumer/.build"

start_consumer_verifier "$WORK"

log "consumer package ($WORK/consumer): swift build against the release package, then run"
t0=$(date +%s)
"${SWIFT[@]}" swift build --package-path "$WORK/consumer" -j "${PAYSEAL_SWIFT_JOBS:-2}" \
  -Xlinker -L"$WORK/lib" || die "the consumer package does not build against the release package"
t_build=$(( $(date +%s) - t0 ))
PAYSEAL_CONSUMER_APP=dev.payseal.demo \
PAYSEAL_CONSUMER_PROFILE="$WORK/state/profile.json" \
PAYSEAL_CONSUMER_CA="$WORK/state/tls/cert.pem" \
PAYSEAL_CONSUMER_RECEIPT="$WORK/receipt.json" \
  "${SWIFT[@]}" "$WORK/consumer/.build/debug/PaySealConsumer" | tee "$WORK/consumer.log"
grep -qx "OK consumer" "$WORK/consumer.log" || die "the consumer did not finish"
stop_consumer_verifier
rm -rf "$WORK"
echo "OK swift release package: generated in ${t_pkg}s (default path), accepted by SwiftPM (describe, dump-package), consumer built in ${t_build}s and verified a purchase against a real verifier"
