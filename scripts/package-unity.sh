#!/usr/bin/env bash
# Fills the Unity package's plugin folders (bindings/unity/Runtime/Plugins) with the native
# library payseal-unity, and packs the package as a tarball for Unity's "Add package from tarball".
#
#   scripts/package-unity.sh android [--from DIR]   Plugins/Android/<abi>/libpayseal_unity.so
#                                                   for arm64-v8a, armeabi-v7a, x86_64
#   scripts/package-unity.sh ios [--from DIR]       Plugins/iOS/libpayseal_unity.a (device, arm64)
#   scripts/package-unity.sh editor                 Plugins/Editor/<Linux|macOS|Windows>/ for this host
#                                                   (the Editor's Play mode calls the native library too)
#   scripts/package-unity.sh tarball [OUT_DIR]      OUT_DIR/dev.payseal.sdk-<version>.tgz (default dist/unity):
#                                                   package.json, README, Runtime/ with what is filled,
#                                                   every .meta; not Native~/ (the crate) nor Tests/
#
# `--from DIR` copies libraries built elsewhere instead of building: DIR/<abi>/libpayseal_unity.so
# (Android) or DIR/libpayseal_unity.a (iOS).
#
# The Android and iOS builds CANNOT run on the project's CI machine (no Android NDK, no macOS or
# Xcode); they check their tools first and say what is missing. Needs:
#   android: rustup targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
#            the Android NDK (ANDROID_NDK_HOME) and cargo-ndk (cargo install cargo-ndk)
#   ios:     macOS with Xcode, rustup target aarch64-apple-ios (IPHONEOS_DEPLOYMENT_TARGET, default 13.0)
#   editor, tarball: cargo, python3, tar (run here: scripts/test-unity.sh checks the tarball)
# Env: PAYSEAL_ANDROID_API (minSdk the .so files are linked for, default 21).
# Each library gets its .meta file with the PluginImporter settings of its platform
# (scripts/lib/unity-package.py); the libraries and their .meta are git-ignored.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"

PKG=$REPO/bindings/unity
PLUGINS=$PKG/Runtime/Plugins
CRATE=payseal-unity
NAME=payseal_unity
META="python3 $REPO/scripts/lib/unity-package.py"
ABIS=(
  "arm64-v8a aarch64-linux-android"
  "armeabi-v7a armv7-linux-androideabi"
  "x86_64 x86_64-linux-android"
)

usage() { die "usage: ${0##*/} android [--from DIR] | ios [--from DIR] | editor | tarball [OUT_DIR]"; }
what=${1:-}; [ -n "$what" ] || usage; shift
from=
if [ "${1:-}" = --from ]; then
  [ -n "${2:-}" ] || usage
  from=$(abs_path "$2") || die "--from $2: no such folder"
  shift 2
fi

target_dir() {
  cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# report MISSING... : print what is missing and fail
report() {
  printf '%s: cannot build the %s library; missing:\n' "${0##*/}" "$what" >&2
  printf '  - %s\n' "$@" >&2
  exit 1
}

case "$what" in
  android)
    if [ -z "$from" ]; then
      missing=()
      command -v cargo >/dev/null || missing+=("cargo (https://rustup.rs)")
      if command -v rustup >/dev/null; then
        installed=$(rustup target list --installed)
        for row in "${ABIS[@]}"; do
          set -- $row
          grep -qx "$2" <<<"$installed" || missing+=("Rust target $2 (rustup target add $2)")
        done
      else
        missing+=("rustup (https://rustup.rs)")
      fi
      NDK=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
      [ -n "$NDK" ] && [ -d "$NDK/toolchains/llvm/prebuilt" ] \
        || missing+=("the Android NDK (set ANDROID_NDK_HOME; sdkmanager \"ndk;27.2.12479018\" or https://developer.android.com/ndk/downloads)")
      cargo ndk --version >/dev/null 2>&1 || missing+=("cargo-ndk (cargo install cargo-ndk)")
      [ ${#missing[@]} -eq 0 ] || report "${missing[@]}"
      from=$(target_dir)/unity-android
      rm -rf "$from"
      targets=()
      for row in "${ABIS[@]}"; do set -- $row; targets+=(--target "$1"); done
      # 16 KB pages (Google Play, Android 15+), on top of the release profile (LTO, stripped).
      RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384" \
        cargo ndk "${targets[@]}" --platform "${PAYSEAL_ANDROID_API:-21}" --output-dir "$from" \
        build --release --lib -p "$CRATE"
    fi
    for row in "${ABIS[@]}"; do
      set -- $row
      [ -f "$from/$1/lib$NAME.so" ] || die "$from/$1/lib$NAME.so not found"
      cp "$from/$1/lib$NAME.so" "$PLUGINS/Android/$1/lib$NAME.so"
      log "Runtime/Plugins/Android/$1/lib$NAME.so"
    done
    ;;
  ios)
    if [ -z "$from" ]; then
      missing=()
      [ "$(uname -s)" = Darwin ] || missing+=("macOS (this is $(uname -s); Apple's SDKs exist only there)")
      command -v xcrun >/dev/null || missing+=("Xcode (xcrun; then sudo xcode-select -s /Applications/Xcode.app)")
      command -v rustup >/dev/null && rustup target list --installed | grep -qx aarch64-apple-ios \
        || missing+=("Rust target aarch64-apple-ios (rustup target add aarch64-apple-ios)")
      [ ${#missing[@]} -eq 0 ] || report "${missing[@]}"
      export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-13.0}
      # A static library only for this build (the crate's ordinary types are lib + cdylib):
      # iOS links plugins statically, which is why the C# side names the library __Internal there.
      cargo rustc --release --lib -p "$CRATE" --target aarch64-apple-ios --crate-type staticlib
      from=$(target_dir)/aarch64-apple-ios/release
    fi
    [ -f "$from/lib$NAME.a" ] || die "$from/lib$NAME.a not found"
    cp "$from/lib$NAME.a" "$PLUGINS/iOS/lib$NAME.a"
    log "Runtime/Plugins/iOS/lib$NAME.a"
    ;;
  editor)
    [ -z "$from" ] || usage
    need_tool cargo "install Rust with rustup: https://rustup.rs"
    case "$(uname -s)" in
      Linux) os=Linux file=lib$NAME.so ;;
      Darwin) os=macOS file=lib$NAME.dylib ;;
      MINGW* | MSYS* | CYGWIN*) os=Windows file=$NAME.dll ;;
      *) die "no Unity Editor plugin folder for $(uname -s)" ;;
    esac
    [ "$(uname -m)" = x86_64 ] || [ "$os" = macOS ] || die "the Editor plugin is x86_64; this is $(uname -m)"
    cargo build -q --release --lib -p "$CRATE"
    cp "$(target_dir)/release/$file" "$PLUGINS/Editor/$os/$file"
    log "Runtime/Plugins/Editor/$os/$file"
    ;;
  tarball)
    [ -z "$from" ] || usage
    OUT=${1:-$REPO/dist/unity}
    need_tool python3 "apt-get install -y python3"
    need_tool tar "apt-get install -y tar"
    $META write "$PKG"   # the .meta files of libraries filled above
    $META check "$PKG"
    version=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$PKG/package.json")
    [ -n "$version" ] || die "no version in $PKG/package.json"
    stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage/package" "$OUT"
    # Unity's tarball layout (as `npm pack`): everything under package/.
    (cd "$PKG" && tar -cf - --exclude='Native~' --exclude='Tests' --exclude='Tests.meta' --exclude='.*' \
      package.json package.json.meta README.md README.md.meta Runtime Runtime.meta) | tar -xf - -C "$stage/package"
    tgz=$(abs_path "$OUT")/dev.payseal.sdk-$version.tgz
    tar -czf "$tgz" -C "$stage" package
    log "$tgz ($(tar -tzf "$tgz" | grep -c '\.meta$') .meta files; libraries: $(tar -tzf "$tgz" | grep -E '\.(so|a|dylib|dll)$' | tr '\n' ' '))"
    echo "$tgz"
    ;;
  *) usage ;;
esac
case "$what" in android | ios | editor) $META write "$PKG" ;; esac   # the new libraries' .meta
