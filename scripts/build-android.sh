#!/usr/bin/env bash
# Android package of the PaySeal SDK: an AAR with the Rust library for arm64-v8a,
# armeabi-v7a and x86_64, and the UniFFI-generated Kotlin (package dev.payseal) plus the
# hand-written layer compiled into classes.jar; and a local Maven repository holding it.
#
#   scripts/build-android.sh [OUT_DIR]          default OUT_DIR: dist/android
#
# It CANNOT run on the project's CI machine (no Android NDK there); it checks its tools
# first and says what is missing. Needs:
#   - Rust targets:  rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
#   - the Android NDK (r26 or newer; r27+ for 16 KB pages by default): ANDROID_NDK_HOME
#     (or ANDROID_NDK_ROOT, or ANDROID_HOME/ndk/<version>)
#   - cargo-ndk (cargo install cargo-ndk), or else the NDK's clang is used directly
#   - java 17+ and mvn (compile the Kotlin into classes.jar), zip
# Env: PAYSEAL_ANDROID_API   minSdk the .so files are linked for (default 21)
#      PAYSEAL_VERSION       artifact version (default: the workspace version)
#
# Output (OUT_DIR):
#   payseal-android-<v>.aar            AndroidManifest.xml, classes.jar, jni/<abi>/libpayseal_sdk_core.so,
#                                      proguard.txt (consumer rules), R.txt (empty)
#   maven/dev/payseal/payseal-android/<v>/payseal-android-<v>.{aar,pom}
#                                      a local Maven repository; the POM brings JNA (as AAR,
#                                      with its own libjnidispatch.so) and kotlinx-coroutines
#   kotlin/                            the generated Kotlin, for reading
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"

OUT=${1:-$REPO/dist/android}
API=${PAYSEAL_ANDROID_API:-21}
CRATE=payseal-sdk-core
LIB=libpayseal_sdk_core.so
# ABI  rust target  NDK clang prefix
ABIS=(
  "arm64-v8a aarch64-linux-android aarch64-linux-android"
  "armeabi-v7a armv7-linux-androideabi armv7a-linux-androideabi"
  "x86_64 x86_64-linux-android x86_64-linux-android"
)

# --- tools, all checked before anything is built -------------------------------------------
missing=()
command -v cargo >/dev/null || missing+=("cargo (https://rustup.rs)")
command -v rustup >/dev/null || missing+=("rustup (https://rustup.rs)")
if command -v rustup >/dev/null; then
  installed=$(rustup target list --installed)
  for row in "${ABIS[@]}"; do
    set -- $row
    grep -qx "$2" <<<"$installed" || missing+=("Rust target $2 (rustup target add $2)")
  done
fi
NDK=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
if [ -z "$NDK" ] && [ -n "${ANDROID_HOME:-}" ] && [ -d "$ANDROID_HOME/ndk" ]; then
  NDK=$(ls -d "$ANDROID_HOME"/ndk/*/ 2>/dev/null | sort -V | tail -n 1); NDK=${NDK%/}
fi
if [ -z "$NDK" ] || [ ! -d "$NDK/toolchains/llvm/prebuilt" ]; then
  missing+=("the Android NDK (set ANDROID_NDK_HOME; install with sdkmanager \"ndk;27.2.12479018\" or from https://developer.android.com/ndk/downloads)")
fi
command -v java >/dev/null || missing+=("java 17+ (apt-get install default-jdk-headless)")
command -v mvn >/dev/null || missing+=("mvn (apt-get install maven)")
command -v zip >/dev/null || missing+=("zip (apt-get install zip)")
command -v python3 >/dev/null || missing+=("python3 (apt-get install python3)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'build-android.sh: cannot build the Android package; missing:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
USE_CARGO_NDK=0
cargo ndk --version >/dev/null 2>&1 && USE_CARGO_NDK=1
export ANDROID_NDK_HOME=$NDK

VERSION=${PAYSEAL_VERSION:-$(cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"name":"payseal-sdk-core","version":"\([^"]*\)".*/\1/p')}
[ -n "$VERSION" ] || die "cannot read the version of $CRATE (cargo metadata); set PAYSEAL_VERSION"
TARGET_DIR=$(cargo_target_dir)
STAGE="$TARGET_DIR/android-aar"
rm -rf "$STAGE" && mkdir -p "$STAGE/aar/jni" "$OUT"

# 16 KB page alignment (required by Google Play for Android 15+ targets; NDK r27 does it by
# default, older NDKs need the flag), on top of the release profile (LTO, the .so stripped).
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"

# --- the Rust library per ABI ----------------------------------------------------------------
# One release compilation per ABI gives both the cdylib (stripped by [profile.release]: what the
# AAR ships) and the static library (never stripped by rustc: what uniffi-bindgen reads; it finds
# no metadata in a stripped library, issue 21).
if [ "$USE_CARGO_NDK" = 1 ]; then
  log "cargo ndk ($(cargo ndk --version 2>&1 | head -n1)), NDK $NDK, API $API"
else
  log "cargo-ndk not found: using the NDK's clang directly ($NDK, API $API)"
  host_tag=
  for h in linux-x86_64 darwin-x86_64 darwin-arm64 windows-x86_64; do
    [ -d "$NDK/toolchains/llvm/prebuilt/$h" ] && { host_tag=$h; break; }
  done
  [ -n "$host_tag" ] || die "no prebuilt LLVM toolchain under $NDK/toolchains/llvm/prebuilt"
  BIN="$NDK/toolchains/llvm/prebuilt/$host_tag/bin"
fi
for row in "${ABIS[@]}"; do
  set -- $row
  abi=$1 rust=$2
  if [ "$USE_CARGO_NDK" = 1 ]; then
    log "cargo ndk --target $abi rustc --release --crate-type cdylib,staticlib"
    cargo ndk --target "$abi" --platform "$API" \
      rustc --release --lib -p "$CRATE" --crate-type cdylib,staticlib
  else
    clang="$BIN/$3$API-clang"
    [ -x "$clang" ] || die "$clang not found (is API $API supported by this NDK?)"
    env_t=$(echo "$rust" | tr 'a-z-' 'A-Z_')
    log "cargo rustc --release --target $rust --crate-type cdylib,staticlib ($abi)"
    ( export "CARGO_TARGET_${env_t}_LINKER=$clang" "CC_${rust//-/_}=$clang" "AR_${rust//-/_}=$BIN/llvm-ar"
      build_sdk_core_release --target "$rust" >/dev/null )
  fi
  for f in "$LIB" "${LIB%.so}.a"; do
    [ -f "$TARGET_DIR/$rust/release/$f" ] || die "$TARGET_DIR/$rust/release/$f was not produced ($abi)"
  done
  mkdir -p "$STAGE/aar/jni/$abi"
  cp "$TARGET_DIR/$rust/release/$LIB" "$STAGE/aar/jni/$abi/$LIB"
done

# --- Kotlin: generated from the arm64 static library (the metadata is the same for every ABI) --
GEN="$STAGE/kotlin"
generate_bindings kotlin "$TARGET_DIR/aarch64-linux-android/release/${LIB%.so}.a" "$GEN"
# JVM bytecode 1.8: D8 accepts it with any Android Gradle Plugin; the code uses JNA, not
# android.jar (UniFFI falls back to JNA's Cleaner where java.lang.ref.Cleaner is missing).
log "compiling the Kotlin into classes.jar (Maven, bindings/kotlin/pom.xml)"
mvn -B -q -Dstyle.color=never -f "$REPO/bindings/kotlin/pom.xml" clean package \
  -Dmaven.test.skip=true -Dpayseal.generated="$GEN" \
  -Dkotlin.compiler.jvmTarget=1.8 -Dmaven.compiler.release=8
jar=$(ls "$REPO"/bindings/kotlin/target/payseal-kotlin-*.jar 2>/dev/null | head -n 1)
[ -f "$jar" ] || die "Maven did not produce bindings/kotlin/target/payseal-kotlin-*.jar"
cp "$jar" "$STAGE/aar/classes.jar"

# --- the AAR ---------------------------------------------------------------------------------
cat >"$STAGE/aar/AndroidManifest.xml" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="dev.payseal">
    <uses-sdk android:minSdkVersion="$API" />
    <uses-permission android:name="android.permission.INTERNET" />
</manifest>
EOF
: >"$STAGE/aar/R.txt"
cat >"$STAGE/aar/proguard.txt" <<'EOF'
# PaySeal: the UniFFI bindings reach Rust through JNA, which finds structures, callbacks
# and native methods by reflection. Keep them (consumer rules, applied to the app's R8).
-keep class dev.payseal.** { *; }
-keep class com.sun.jna.** { *; }
-keep class * implements com.sun.jna.** { *; }
-dontwarn java.awt.**
-dontwarn com.sun.jna.**
EOF
AAR="$OUT/payseal-android-$VERSION.aar"
rm -f "$AAR"
(cd "$STAGE/aar" && zip -q -r -X "$AAR" AndroidManifest.xml classes.jar R.txt proguard.txt jni)

JNA_VERSION=$(sed -n 's:.*<jna.version>\(.*\)</jna.version>.*:\1:p' "$REPO/bindings/kotlin/pom.xml")
COROUTINES_VERSION=$(sed -n 's:.*<kotlinx.coroutines.version>\(.*\)</kotlinx.coroutines.version>.*:\1:p' "$REPO/bindings/kotlin/pom.xml")
KOTLIN_VERSION=$(sed -n 's:.*<kotlin.version>\(.*\)</kotlin.version>.*:\1:p' "$REPO/bindings/kotlin/pom.xml")
REPO_DIR="$OUT/maven/dev/payseal/payseal-android/$VERSION"
mkdir -p "$REPO_DIR"
cp "$AAR" "$REPO_DIR/"
cat >"$REPO_DIR/payseal-android-$VERSION.pom" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.payseal</groupId>
  <artifactId>payseal-android</artifactId>
  <version>$VERSION</version>
  <packaging>aar</packaging>
  <dependencies>
    <!-- JNA for Android: the AAR carries libjnidispatch.so for each ABI -->
    <dependency><groupId>net.java.dev.jna</groupId><artifactId>jna</artifactId><version>$JNA_VERSION</version><type>aar</type></dependency>
    <dependency><groupId>org.jetbrains.kotlinx</groupId><artifactId>kotlinx-coroutines-android</artifactId><version>$COROUTINES_VERSION</version></dependency>
    <dependency><groupId>org.jetbrains.kotlin</groupId><artifactId>kotlin-stdlib</artifactId><version>$KOTLIN_VERSION</version></dependency>
  </dependencies>
</project>
EOF
rm -rf "$OUT/kotlin" && cp -R "$GEN" "$OUT/kotlin"

log "AAR: $AAR"
for row in "${ABIS[@]}"; do
  set -- $row
  log "  jni/$1/$LIB $(wc -c <"$STAGE/aar/jni/$1/$LIB") bytes"
done
log "local Maven repository: $OUT/maven (dev.payseal:payseal-android:$VERSION)"
