#!/usr/bin/env bash
# Writes the Swift package an app adds by URL, as its repository's root: a Package.swift whose
# PaySealFFI is a remote `.binaryTarget(url:checksum:)` (the XCFramework zip), plus the Swift
# sources (generated PaySeal.swift and the hand-written layer) under Sources/PaySeal. This is the
# layout matrix-rust-components-swift and Mozilla's rust-components-swift publish: commit OUT as
# the root of the release repository, tag it, upload the zip to URL. No `unsafeFlags` (SwiftPM
# refuses them in dependencies), no linker settings: the XCFramework carries the library.
#
#   scripts/swift-release-package.sh --zip PaySealFFI.xcframework.zip --url https://.../PaySealFFI.xcframework.zip \
#       --out RELEASE_DIR [--generated DIR_WITH_PaySeal.swift]
#
# --generated: the Swift uniffi-bindgen wrote (scripts/build-xcframework.sh passes the one it
# generated from the iOS static library). Without it, the Swift is generated here from this
# host's release static library of sdk-core (the metadata is the same on every target), which
# runs anywhere cargo does: that is how CI runs it (scripts/test-swift-release.sh).
# The checksum is SwiftPM's (SHA-256 of the zip): `swift package compute-checksum` when swift is
# on PATH, else `shasum -a 256` / `sha256sum` (the same value). Only the zip itself needs Xcode
# (scripts/build-xcframework.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"

zip= url= generated= out=
while [ $# -gt 0 ]; do
  case "$1" in
    --zip) zip=$2; shift 2 ;;
    --url) url=$2; shift 2 ;;
    --generated) generated=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) die "usage: ${0##*/} --zip ZIP --url HTTPS_URL --out DIR [--generated DIR] (unknown: $1)" ;;
  esac
done
[ -n "$zip" ] && [ -n "$url" ] && [ -n "$out" ] ||
  die "usage: ${0##*/} --zip ZIP --url HTTPS_URL --out DIR [--generated DIR]"
[ -f "$zip" ] || die "--zip $zip: no such file"
case "$url" in https://*.zip) ;; *) die "--url must be an https:// URL of the .zip (SwiftPM downloads binary targets over https), got $url" ;; esac
case "$(basename "$url")" in "$(basename "$zip")") ;; *) die "--url names $(basename "$url"), the zip is $(basename "$zip")" ;; esac
if [ -z "$generated" ]; then
  need_tool cargo "install Rust with rustup: https://rustup.rs"
  need_tool python3 "apt-get install -y python3"
  log "Swift bindings from this host's release static library of sdk-core"
  lib=$(cd "$REPO" && build_sdk_core_release)/libpayseal_sdk_core.a
  generated=$(cd "$REPO" && cargo_target_dir)/swift-release/bindings
  (cd "$REPO" && generate_bindings swift "$lib" "$generated")
fi
[ -f "$generated/PaySeal.swift" ] || die "--generated $generated has no PaySeal.swift (uniffi-bindgen generate --language swift)"

if command -v swift >/dev/null 2>&1 && checksum=$(swift package compute-checksum "$zip" 2>/dev/null); then :
elif command -v shasum >/dev/null 2>&1; then checksum=$(shasum -a 256 "$zip" | cut -d' ' -f1)
elif command -v sha256sum >/dev/null 2>&1; then checksum=$(sha256sum "$zip" | cut -d' ' -f1)
else die "no swift, shasum or sha256sum to compute the checksum"
fi
[[ $checksum =~ ^[0-9a-f]{64}$ ]] || die "checksum $checksum is not 64 hex digits"

rm -rf "$out/Sources"
mkdir -p "$out/Sources/PaySeal"
cp "$generated/PaySeal.swift" "$out/Sources/PaySeal/"
cp "$REPO"/bindings/swift/Sources/PaySeal/*.swift "$out/Sources/PaySeal/"
cat >"$out/Package.swift" <<EOF
// swift-tools-version:5.9
// PaySeal for iOS and macOS, release layout (written by scripts/swift-release-package.sh).
// Add it by URL in Xcode (File > Add Package Dependencies) or in Package.swift:
//   .package(url: "<the git repository holding this folder>", from: "<tag>")
// PaySealFFI is the Rust SDK core as an XCFramework downloaded from the URL below and checked
// against the checksum; Sources/PaySeal holds the generated and hand-written Swift.
import PackageDescription

let package = Package(
    name: "PaySeal",
    platforms: [.iOS(.v13), .macOS(.v10_15)],
    products: [
        .library(name: "PaySeal", targets: ["PaySeal"]),
    ],
    targets: [
        .binaryTarget(
            name: "PaySealFFI",
            url: "$url",
            checksum: "$checksum"
        ),
        .target(name: "PaySeal", dependencies: ["PaySealFFI"], path: "Sources/PaySeal"),
    ]
)
EOF
echo "$checksum" >"$out/PaySealFFI.checksum"
log "release package in $out (binaryTarget $url, checksum $checksum)"
