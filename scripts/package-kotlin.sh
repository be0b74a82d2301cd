#!/usr/bin/env bash
# Builds and installs the Kotlin/JVM package dev.payseal:payseal-kotlin into the local Maven
# repository (~/.m2), with the host's native library inside the jar in JNA's resource layout
# (linux-x86-64/libpayseal_sdk_core.so, linux-aarch64/..., darwin-aarch64/libpayseal_sdk_core.dylib,
# darwin-x86-64/...), so a JVM project adds the one dependency and JNA loads the library from the
# class path, without jna.library.path.
#
#   scripts/package-kotlin.sh                 release build of sdk-core, bindings generated, mvn install
#                                             (what the README tells a user, and what CI runs:
#                                             scripts/test-kotlin-package.sh)
#   PAYSEAL_CDYLIB=... PAYSEAL_BINDINGS_DIR=... scripts/package-kotlin.sh   use those instead
#
# The default path compiles sdk-core once (release: LTO, codegen-units 1) into the cdylib the jar
# carries, stripped by [profile.release], and the static library, unstripped, from which
# uniffi-bindgen reads the UniFFI metadata (it finds none in a stripped library).
#
# Env (optional):
#   PAYSEAL_CDYLIB          the host cdylib to pack (default: the release build above); bindings are
#                           then generated from it, so it must be unstripped (a debug build is)
#   PAYSEAL_BINDINGS_DIR    generated Kotlin (default: generated here)
#   PAYSEAL_NATIVE_EXTRA    a folder already in JNA's layout (<os>-<arch>/lib...), e.g. the libraries
#                           other hosts built; packed next to this host's
#   PAYSEAL_MVN_OFFLINE=1   Maven with -o
#   PAYSEAL_M2_REPO         the local Maven repository, if not ~/.m2/repository
# The package's tests are not run here: scripts/test-kotlin.sh runs them (they need verifiers),
# and scripts/test-kotlin-package.sh checks the installed artifact from a separate Maven project.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"

need_tool cargo "install Rust with rustup: https://rustup.rs"
need_tool java "apt-get install -y default-jdk-headless (JDK 17+)"
need_tool mvn "apt-get install -y maven"
need_tool unzip "apt-get install -y unzip"

TARGET=$(cargo_target_dir)
STAGE="$TARGET/kotlin-package"

if [ -z "${PAYSEAL_CDYLIB:-}" ]; then
  log "cargo rustc --release -p payseal-sdk-core --crate-type cdylib,staticlib (the library the jar carries, stripped; the static library for uniffi-bindgen)"
  REL=$(build_sdk_core_release)
  case "$(uname -s)" in Darwin) ext=dylib ;; *) ext=so ;; esac
  export PAYSEAL_CDYLIB="$REL/libpayseal_sdk_core.$ext"
  BINDGEN_LIB="$REL/libpayseal_sdk_core.a"
else
  BINDGEN_LIB=$PAYSEAL_CDYLIB   # a given (debug, unstripped) cdylib
fi
CDYLIB=$(abs_path "$PAYSEAL_CDYLIB") || die "PAYSEAL_CDYLIB=$PAYSEAL_CDYLIB does not exist"

if [ -z "${PAYSEAL_BINDINGS_DIR:-}" ]; then
  generate_bindings kotlin "$BINDGEN_LIB" "$STAGE/bindings/kotlin"
  export PAYSEAL_BINDINGS_DIR="$STAGE/bindings"
fi
GEN=$(bindings_dir kotlin)
[ -f "$GEN/dev/payseal/payseal.kt" ] || die "no dev/payseal/payseal.kt under $GEN"

# JNA's resource prefix (com.sun.jna.Platform.RESOURCE_PREFIX) for this host.
os=$(uname -s) arch=$(uname -m)
case "$os" in Linux) os=linux ;; Darwin) os=darwin ;; *) die "unsupported host OS $os (Linux or macOS)" ;; esac
case "$arch" in x86_64 | amd64) arch=x86-64 ;; aarch64 | arm64) arch=aarch64 ;; *) die "unsupported host CPU $arch" ;; esac
PREFIX="$os-$arch"

NATIVE="$STAGE/native"
rm -rf "$NATIVE"
mkdir -p "$NATIVE/$PREFIX"
cp "$CDYLIB" "$NATIVE/$PREFIX/"
if [ -n "${PAYSEAL_NATIVE_EXTRA:-}" ]; then
  [ -d "$PAYSEAL_NATIVE_EXTRA" ] || die "PAYSEAL_NATIVE_EXTRA=$PAYSEAL_NATIVE_EXTRA is not a folder"
  cp -R "$PAYSEAL_NATIVE_EXTRA"/. "$NATIVE/"
fi
LIB=$(basename "$CDYLIB")

MVN=(mvn -B -q -Dstyle.color=never -f "$REPO/bindings/kotlin/pom.xml")
[ "${PAYSEAL_MVN_OFFLINE:-0}" = 1 ] && MVN+=(-o)
log "mvn install dev.payseal:payseal-kotlin with $PREFIX/$LIB ($(du -h "$CDYLIB" | cut -f1))"
"${MVN[@]}" clean install -DskipTests -Dpayseal.generated="$GEN" -Dpayseal.native.dir="$NATIVE"

VERSION=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "$REPO/bindings/kotlin/pom.xml" | head -n 1)
JAR="${PAYSEAL_M2_REPO:-$HOME/.m2/repository}/dev/payseal/payseal-kotlin/$VERSION/payseal-kotlin-$VERSION.jar"
[ -f "$JAR" ] || die "mvn install left no $JAR"
LISTING=$(unzip -l "$JAR")
grep -q " $PREFIX/$LIB\$" <<<"$LISTING" || die "$JAR lacks $PREFIX/$LIB"
grep -q " dev/payseal/PaySeal.class\$" <<<"$LISTING" || die "$JAR lacks dev/payseal/PaySeal.class"
echo "installed dev.payseal:payseal-kotlin:$VERSION ($JAR) with:"
awk '/lib[^ ]*\.(so|dylib|dll)$/ { print "  " $4 " (" $1 " bytes)" }' <<<"$LISTING"
