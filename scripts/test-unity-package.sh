#!/usr/bin/env bash
# The Unity package as a user meets it, on its default path, outside the repository:
#   1. `scripts/package-unity.sh editor` then `scripts/package-unity.sh tarball`, exactly as
#      bindings/unity/README.md says: the release payseal-unity library for this host into
#      Runtime/Plugins/Editor/<os>/, then dist/unity/dev.payseal.sdk-<version>.tgz;
#   2. the tarball is unpacked in a fresh folder outside the repository; its Editor library must be
#      there and stripped;
#   3. bindings/unity/ConsumerTest~/Program.cs is compiled by mcs with the tarball's Runtime/
#      sources only, run on Mono with the tarball's library next to it (no LD_LIBRARY_PATH), and
#      verifies a sandbox purchase against a real `payseal-verifier dev` over pinned TLS.
#
#   scripts/test-unity-package.sh
# Needs cargo, python3, tar, curl, readelf and Debian's mono-mcs mono-runtime. Uses
# PAYSEAL_VERIFIER_BIN, PAYSEAL_SANDBOX_BIN when set; otherwise builds them (debug). Prints how
# long the packaging took.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/bindings-common.sh"
cd "$REPO"
apt_hint="apt-get install -y --no-install-recommends mono-mcs mono-runtime"
need_tool cargo "install Rust with rustup: https://rustup.rs"
need_tool python3 "apt-get install -y python3"
need_tool curl "apt-get install -y curl"
need_tool readelf "apt-get install -y binutils"
need_tool mcs "$apt_hint"
need_tool mono "$apt_hint"
[ "$(uname -s)" = Linux ] || die "this check runs the Linux Editor library on Mono; this is $(uname -s)"

need_dev_bins

log "scripts/package-unity.sh editor; scripts/package-unity.sh tarball (default paths, as the README says)"
t0=$(date +%s)
"$REPO/scripts/package-unity.sh" editor
t_editor=$(( $(date +%s) - t0 ))
t0=$(date +%s)
TGZ=$("$REPO/scripts/package-unity.sh" tarball | tail -n 1)
t_tar=$(( $(date +%s) - t0 ))
[ "$TGZ" = "$REPO/dist/unity/dev.payseal.sdk-$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' bindings/unity/package.json).tgz" ] ||
  die "the tarball is $TGZ, not where the README says (dist/unity/dev.payseal.sdk-<version>.tgz)"

WORK=$(mktemp -d /tmp/payseal-unity-package.XXXXXX)
trap stop_consumer_verifier EXIT
mkdir -p "$WORK/unpacked" "$WORK/app"
tar -xzf "$TGZ" -C "$WORK/unpacked"
PKG="$WORK/unpacked/package"
SO="$PKG/Runtime/Plugins/Editor/Linux/libpayseal_unity.so"
[ -f "$SO" ] && [ -f "$SO.meta" ] || die "the tarball lacks Runtime/Plugins/Editor/Linux/libpayseal_unity.so (+ .meta)"
! readelf -S "$SO" | grep -q '\.symtab' || die "the tarball's libpayseal_unity.so has a symbol table: not the stripped release library"

log "mcs: ConsumerTest~/Program.cs + the tarball's Runtime -> $WORK/app/Consumer.exe"
mcs -nologo -target:exe -unsafe -langversion:7 -out:"$WORK/app/Consumer.exe" \
  -r:System.dll -r:System.Core.dll -recurse:"$PKG/Runtime/*.cs" "$REPO/bindings/unity/ConsumerTest~/Program.cs"
cp "$SO" "$WORK/app/"

start_consumer_verifier "$WORK"

log "mono Consumer.exe (the library from the tarball, next to the program; no LD_LIBRARY_PATH)"
(cd "$WORK/app" && env -u LD_LIBRARY_PATH \
  PAYSEAL_CONSUMER_APP=dev.payseal.demo \
  PAYSEAL_CONSUMER_PROFILE="$WORK/state/profile.json" \
  PAYSEAL_CONSUMER_CA="$WORK/state/tls/cert.pem" \
  PAYSEAL_CONSUMER_RECEIPT="$WORK/receipt.json" \
  timeout 120 mono Consumer.exe) | tee "$WORK/consumer.log"
grep -qx "OK consumer" "$WORK/consumer.log" || die "the consumer did not finish"
stop_consumer_verifier
rm -rf "$WORK"
echo "OK unity package: package-unity.sh editor ${t_editor}s + tarball ${t_tar}s (default paths); the tarball, unpacked outside the repository, compiled with mcs and run on Mono, verified a purchase against a real verifier"
