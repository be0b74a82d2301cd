#!/usr/bin/env bash
# Apple package of the PaySeal SDK: PaySealFFI.xcframework (the Rust static library for iOS
# devices, the iOS simulator and macOS, with the UniFFI C header and module map) and a Swift
# package that wraps it (binary target + the generated Swift + the hand-written Swift layer).
#
#   scripts/build-xcframework.sh [OUT_DIR]       default OUT_DIR: dist/apple
#
# NEEDS XCODE: it cannot run on the project's CI machine (Linux, no Xcode); it checks its tools
# first and says what is missing. What of it can run on Linux runs in CI through
# scripts/test-swift-release.sh: the Swift generated from a (Linux) static library with the same
# generate_bindings call, the release package written by scripts/swift-release-package.sh and
# read by SwiftPM (`swift package describe`), and a consumer package built against it with the
# Linux static library in PaySealFFI's place. What only this script does (xcodebuild
# -create-xcframework, the Apple static libraries, lipo, the macOS `swift build`) is not run there.
# Needs macOS with:
#   - Xcode (xcodebuild, lipo, xcrun; `xcode-select --install` is not enough: full Xcode)
#   - Rust targets: rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios \
#                                     aarch64-apple-darwin x86_64-apple-darwin
#   - swift (comes with Xcode), zip / ditto (macOS)
# Env: IPHONEOS_DEPLOYMENT_TARGET (default 13.0), MACOSX_DEPLOYMENT_TARGET (default 10.15):
#      the minimums the Rust code is compiled for; they match Package.swift's platforms.
#      PAYSEAL_XCFRAMEWORK_URL (required): the https:// URL the zip will be published at (e.g. a
#      release asset); the release Package.swift names it with the zip's checksum.
#
# Output (OUT_DIR):
#   PaySealFFI.xcframework/             ios-arm64, ios-arm64_x86_64-simulator, macos-arm64_x86_64
#                                       (libpayseal_sdk_core.a + Headers/PaySealFFI/{PaySealFFI.h,module.modulemap})
#   PaySealFFI.xcframework.zip (+ .checksum)   for a remote `.binaryTarget(url:checksum:)`
#   PaySeal/                            a local Swift package: Package.swift, Sources/PaySeal/*.swift,
#                                       PaySealFFI.xcframework (a copy), for File > Add Local…
#   release/                            the package apps add by URL: Package.swift with
#                                       .binaryTarget(url: PAYSEAL_XCFRAMEWORK_URL, checksum: …) and
#                                       Sources/PaySeal/*.swift (scripts/swift-release-package.sh);
#                                       commit it to the release repository/tag, upload the zip
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"

OUT=${1:-$REPO/dist/apple}
CRATE=payseal-sdk-core
LIB=libpayseal_sdk_core.a
IOS=aarch64-apple-ios
SIM=(aarch64-apple-ios-sim x86_64-apple-ios)
MAC=(aarch64-apple-darwin x86_64-apple-darwin)
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-13.0}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-10.15}

# --- tools, all checked before anything is built -------------------------------------------
missing=()
[ "$(uname -s)" = Darwin ] || missing+=("macOS (this is $(uname -s); Apple's SDKs and xcodebuild exist only there)")
for t in xcodebuild lipo xcrun swift; do
  command -v "$t" >/dev/null || missing+=("$t (install Xcode from the App Store, then: sudo xcode-select -s /Applications/Xcode.app)")
done
command -v ditto >/dev/null || missing+=("ditto (part of macOS)")
if command -v xcodebuild >/dev/null && ! xcodebuild -version >/dev/null 2>&1; then
  missing+=("a full Xcode selected (xcodebuild fails: sudo xcode-select -s /Applications/Xcode.app)")
fi
command -v cargo >/dev/null || missing+=("cargo (https://rustup.rs)")
command -v python3 >/dev/null || missing+=("python3 (xcode-select --install)")
[ -n "${PAYSEAL_XCFRAMEWORK_URL:-}" ] || missing+=("PAYSEAL_XCFRAMEWORK_URL (the https:// URL where PaySealFFI.xcframework.zip will be published)")
if command -v rustup >/dev/null; then
  installed=$(rustup target list --installed)
  for t in "$IOS" "${SIM[@]}" "${MAC[@]}"; do
    grep -qx "$t" <<<"$installed" || missing+=("Rust target $t (rustup target add $t)")
  done
else
  missing+=("rustup (https://rustup.rs)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'build-xcframework.sh: cannot build the Apple package; missing:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

TARGET_DIR=$(cargo_target_dir)
STAGE="$TARGET_DIR/apple-xcframework"
rm -rf "$STAGE" && mkdir -p "$STAGE" "$OUT"

# --- the Rust static library per target (release profile: LTO, codegen-units 1; rustc does not
# strip archives: the app's link strips what it keeps) ------------------------------------------
for t in "$IOS" "${SIM[@]}" "${MAC[@]}"; do
  # sdk-core's Cargo.toml declares lib + cdylib only (a staticlib in every debug and test build
  # costs ~400 MB of disk); the Apple package asks for the static library here, explicitly.
  log "cargo rustc --release --crate-type staticlib --target $t"
  cargo rustc --release --lib -p "$CRATE" --target "$t" --crate-type staticlib
  [ -f "$TARGET_DIR/$t/release/$LIB" ] || die "$TARGET_DIR/$t/release/$LIB was not produced"
done

# One library per platform variant: device as is, simulator and macOS as fat (lipo) libraries.
mkdir -p "$STAGE/ios" "$STAGE/ios-simulator" "$STAGE/macos"
cp "$TARGET_DIR/$IOS/release/$LIB" "$STAGE/ios/$LIB"
sim_libs=() mac_libs=()
for t in "${SIM[@]}"; do sim_libs+=("$TARGET_DIR/$t/release/$LIB"); done
for t in "${MAC[@]}"; do mac_libs+=("$TARGET_DIR/$t/release/$LIB"); done
lipo -create "${sim_libs[@]}" -output "$STAGE/ios-simulator/$LIB"
lipo -create "${mac_libs[@]}" -output "$STAGE/macos/$LIB"
lipo -info "$STAGE/ios-simulator/$LIB" "$STAGE/macos/$LIB" >&2

# --- Swift bindings, from the iOS device static library ----------------------------------------
# uniffi-bindgen reads the UniFFI metadata from a library's symbols, archives included; rustc
# never strips a static library, so this is the very file the XCFramework ships (the metadata is
# the same for every target). No .dylib is built here: the Apple package links statically.
GEN="$STAGE/swift"
generate_bindings swift "$TARGET_DIR/$IOS/release/$LIB" "$GEN"
# Headers go one level down (Headers/PaySealFFI/), so that the module map of this
# xcframework cannot collide with another xcframework's module.modulemap in the app's build.
HEADERS="$STAGE/headers"
mkdir -p "$HEADERS/PaySealFFI"
cp "$GEN/PaySealFFI.h" "$HEADERS/PaySealFFI/PaySealFFI.h"
cp "$GEN/PaySealFFI.modulemap" "$HEADERS/PaySealFFI/module.modulemap"

# --- the XCFramework ---------------------------------------------------------------------------
XCF="$OUT/PaySealFFI.xcframework"
rm -rf "$XCF"
xcodebuild -create-xcframework \
  -library "$STAGE/ios/$LIB" -headers "$HEADERS" \
  -library "$STAGE/ios-simulator/$LIB" -headers "$HEADERS" \
  -library "$STAGE/macos/$LIB" -headers "$HEADERS" \
  -output "$XCF"
(cd "$OUT" && rm -f PaySealFFI.xcframework.zip && ditto -c -k --sequesterRsrc --keepParent PaySealFFI.xcframework PaySealFFI.xcframework.zip)
(cd "$OUT" && swift package compute-checksum PaySealFFI.xcframework.zip >PaySealFFI.xcframework.zip.checksum)

# --- the Swift package around it ----------------------------------------------------------------
PKG="$OUT/PaySeal"
rm -rf "$PKG" && mkdir -p "$PKG/Sources/PaySeal"
cp "$GEN/PaySeal.swift" "$PKG/Sources/PaySeal/"
cp "$REPO"/bindings/swift/Sources/PaySeal/*.swift "$PKG/Sources/PaySeal/"
cp -R "$XCF" "$PKG/PaySealFFI.xcframework"
cat >"$PKG/Package.swift" <<'EOF'
// swift-tools-version:5.9
// PaySeal for iOS and macOS: the Rust SDK core as a binary target (PaySealFFI.xcframework,
// made by scripts/build-xcframework.sh) and its Swift API. To host the XCFramework remotely,
// replace the binary target with:
//   .binaryTarget(name: "PaySealFFI", url: "https://…/PaySealFFI.xcframework.zip",
//                 checksum: "<PaySealFFI.xcframework.zip.checksum>")
import PackageDescription

let package = Package(
    name: "PaySeal",
    platforms: [.iOS(.v13), .macOS(.v10_15)],
    products: [
        .library(name: "PaySeal", targets: ["PaySeal"]),
    ],
    targets: [
        .binaryTarget(name: "PaySealFFI", path: "PaySealFFI.xcframework"),
        .target(name: "PaySeal", dependencies: ["PaySealFFI"], path: "Sources/PaySeal"),
    ]
)
EOF
# --- the release package (by URL): remote binary target + checksum + the Swift sources --------
"$REPO/scripts/swift-release-package.sh" --zip "$OUT/PaySealFFI.xcframework.zip" \
  --url "$PAYSEAL_XCFRAMEWORK_URL" --generated "$GEN" --out "$OUT/release"

log "checking that the package builds for macOS (swift build)"
(cd "$PKG" && swift build -q) || die "the Swift package does not build (see above)"

log "XCFramework: $XCF ($(cat "$OUT/PaySealFFI.xcframework.zip.checksum"))"
log "Swift package: $PKG (add it in Xcode: File > Add Package Dependencies > Add Local…)"
log "release package: $OUT/release (commit it, upload the zip to $PAYSEAL_XCFRAMEWORK_URL)"
