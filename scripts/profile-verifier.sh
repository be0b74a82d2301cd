#!/usr/bin/env bash
# CPU profile of `payseal-verifier serve` under the load of scripts/bench-verifier.sh (not a test):
# `perf record` (frame pointers) on the server process only, then the share of its CPU samples by
# stage (TLS, envelope, verdict signing, store rule, JSON, HTTP, ledger, runtime, allocator,
# kernel) and the top symbols. Needs a build with symbols and frame pointers, made by this script
# in its own target directory (the release profile strips):
#   PROFILE_TARGET (default target/profiling) CONNECTIONS (64) DURATION (20 s) UNIQUE (2000)
#   LEDGER (postgres://...; default the run's own SQLite file) SKIP_BUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need perf "apt-get install linux-perf"
need python3 "apt-get install python3"
TARGET=${PROFILE_TARGET:-target/profiling}
DUR=${DURATION:-20}
if [[ -z ${SKIP_BUILD:-} ]]; then
  step "build (release with symbols and frame pointers, in $TARGET)"
  CARGO_TARGET_DIR=$TARGET CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    RUSTFLAGS="-C force-frame-pointers=yes" \
    cargo build --quiet --release -p payseal-verifier --bins --examples --features dev
fi
BIN=$TARGET/release
STATE=$(mktemp -d /tmp/payseal-profile.XXXXXX)
PORT=$(free_port)
dev_state "$BIN" "$STATE" "$PORT"
if [[ -n ${LEDGER:-} ]]; then export PAYSEAL_LEDGER=$LEDGER; fi
RUST_LOG=warn "$BIN/payseal-verifier" serve --config "$STATE/verifier.toml" >"$STATE/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
wait_for_https "https://localhost:$PORT/healthz" "$STATE/tls/cert.pem" 60

step "load ${DUR}s, perf record on the server for the middle $((DUR - 6))s"
"$BIN/examples/load" --profile "$STATE/profile.json" --ca "$STATE/tls/cert.pem" --store "$STATE/sandbox-store" \
  --connections "${CONNECTIONS:-64}" --seconds "$DUR" --unique "${UNIQUE:-2000}" >"$STATE/load.json" &
LOAD=$!
# Preparing the receipts takes a few seconds; skip them and the first redemptions.
sleep 5
perf record -o "$STATE/perf.data" -e cpu-clock -F 997 -g -p "$SERVER" -- sleep $((DUR - 6)) 2>&1 | tail -n 1
wait $LOAD
cat "$STATE/load.json"
perf report -i "$STATE/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null >"$STATE/flat.txt"
python3 - "$STATE/flat.txt" <<'PY'
import re, sys
# First matching stage wins; symbols are demangled Rust paths, C symbols, or kernel functions.
stages = [
    ("curve25519 field arithmetic (Ed25519 verdict signing and X25519 of the envelope)", r"ed25519|curve25519|x25519"),
    ("SHA-512 (Ed25519)", r"sha2::sha512|Sha512"),
    ("envelope rest (HKDF, ChaCha20-Poly1305, SHA-256)", r"hpke|chacha20|poly1305|hkdf|envelope|sha2::sha256|Sha256"),
    ("store rule (RSA: ring bignum, SHA-1)", r"bn_mul|ring_core.*(mont|bn_)|rsa|sha1|RSA|bn_from_montgomery|LIMBS"),
    ("TLS (rustls, AES-GCM, record layer)", r"rustls|aes_|aesni|gcm_|GFp_|ring::aead|ChaCha20_ctr32|ring_core.*gcm"),
    ("JSON (serde_json)", r"serde_json|serde::"),
    ("HTTP (hyper, axum, http, tower)", r"hyper|axum|tower|::http::|httparse|h2::"),
    ("ledger (SQLite, tokio-postgres, pool)", r"sqlite|rusqlite|payseal_ledger|tokio_postgres|postgres_protocol|deadpool"),
    ("metrics, tracing, logging", r"prometheus|tracing|metrics"),
    ("runtime (tokio, futures, parking)", r"tokio|futures|parking_lot|std::thread|crossbeam|mio"),
    ("allocator (malloc, free, memcpy)", r"malloc|free|realloc|memcpy|memmove|memset|_int_|cfree|alloc::"),
]
total = 0.0
by = {}
top = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
    total += pct
    top.append((pct, dso, sym))
    if kind == "k" or dso.startswith("[kernel"):
        stage = "kernel (syscalls, TCP, scheduler, fsync)"
    else:
        stage = next((name for name, rx in stages if re.search(rx, sym)), "other (our code, uuid, hex, misc)")
    by[stage] = by.get(stage, 0.0) + pct
print(f"\nserver CPU samples by stage (of {total:.1f}% attributed):")
for name, pct in sorted(by.items(), key=lambda kv: -kv[1]):
    print(f"  {pct:5.1f}%  {name}")
print("\ntop 40 symbols:")
for pct, dso, sym in sorted(top, reverse=True)[:40]:
    print(f"  {pct:5.2f}%  {dso:<22.22} {sym[:110]}")
PY
echo "perf data: $STATE/perf.data (perf report -i $STATE/perf.data)"
