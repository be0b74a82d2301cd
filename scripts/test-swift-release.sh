#!/usr/bin/env bash
# Tests the Swift release layout generator (scripts/swift-release-package.sh) here, where no
# Xcode exists: on a made-up XCFramework zip and the Swift generated from the host cdylib, the
# written Package.swift is parsed by SwiftPM itself (`swift package dump-package` in the Swift
# chroot), must declare PaySealFFI as a remote binary target with the URL and the zip's
# SHA-256 (= `swift package compute-checksum`), have no unsafeFlags, and ship the sources.
# Needs root and the chroot (scripts/swift-env.sh setup); PAYSEAL_BINDINGS_DIR from
# scripts/test-bindings.sh, or it runs `scripts/test-bindings.sh generate` first.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"
[ "$(id -u)" -eq 0 ] || die "must run as root (the Swift chroot)"
"$REPO/scripts/swift-env.sh" status >/dev/null || die "the Swift chroot is not ready: run $REPO/scripts/swift-env.sh setup"
need_tool python3 "apt-get install -y python3"
need_tool zip "apt-get install -y zip"

if [ -z "${PAYSEAL_BINDINGS_DIR:-}" ]; then
  "$REPO/scripts/test-bindings.sh" generate
  PAYSEAL_BINDINGS_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/bindings"
fi
GEN=$(bindings_dir swift)

# Inside the repository, so the chroot (which mounts it) sees the files.
WORK="$REPO/target/swift-release-test"
rm -rf "$WORK" && mkdir -p "$WORK/xcf/PaySealFFI.xcframework"
printf '<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n' >"$WORK/xcf/PaySealFFI.xcframework/Info.plist"
(cd "$WORK/xcf" && zip -q -r ../PaySealFFI.xcframework.zip PaySealFFI.xcframework)
URL=https://downloads.example.com/payseal/0.1.0/PaySealFFI.xcframework.zip

# Bad input is refused and writes nothing.
if "$REPO/scripts/swift-release-package.sh" --zip "$WORK/PaySealFFI.xcframework.zip" --url "http://x/PaySealFFI.xcframework.zip" \
  --generated "$GEN" --out "$WORK/bad" 2>/dev/null; then die "an http:// URL was accepted"; fi
[ ! -e "$WORK/bad" ] || die "a refused run wrote $WORK/bad"

"$REPO/scripts/swift-release-package.sh" --zip "$WORK/PaySealFFI.xcframework.zip" --url "$URL" \
  --generated "$GEN" --out "$WORK/release"

SWIFT=("$REPO/scripts/swift-env.sh" run --)
"${SWIFT[@]}" sh -c "cd '$WORK/release' && swift package dump-package" >"$WORK/dump.json" ||
  die "SwiftPM cannot parse the release Package.swift"
"${SWIFT[@]}" swift package compute-checksum "$WORK/PaySealFFI.xcframework.zip" >"$WORK/swiftpm.checksum" ||
  die "swift package compute-checksum failed"
python3 - "$WORK" "$URL" <<'PY'
import hashlib, json, os, sys
work, url = sys.argv[1], sys.argv[2]
dump = json.load(open(f"{work}/dump.json"))
sha = hashlib.sha256(open(f"{work}/PaySealFFI.xcframework.zip", "rb").read()).hexdigest()
swiftpm = open(f"{work}/swiftpm.checksum").read().strip()
assert swiftpm == sha, f"SwiftPM's checksum {swiftpm} != SHA-256 {sha}"
targets = {t["name"]: t for t in dump["targets"]}
ffi = targets["PaySealFFI"]
assert ffi["type"] == "binary", ffi
assert ffi["url"] == url, ffi
assert ffi["checksum"] == sha, (ffi["checksum"], sha)
pay = targets["PaySeal"]
assert pay["type"] == "regular" and [d for d in pay["dependencies"]], pay
assert dump["products"][0]["name"] == "PaySeal"
assert "unsafeFlags" not in open(f"{work}/release/Package.swift").read()
srcs = sorted(os.listdir(f"{work}/release/Sources/PaySeal"))
assert "PaySeal.swift" in srcs and len(srcs) >= 2, srcs
print(f"release Package.swift: binaryTarget {ffi['url']} checksum {ffi['checksum'][:16]}… (= swift package compute-checksum); sources {srcs}")
PY
echo "OK swift release layout: manifest parsed by SwiftPM, remote binary target with the zip's checksum"
