#!/usr/bin/env bash
# What the Google Play live check costs a /v1/verify request (issue 23; not a test, not in
# scripts/test.sh: it needs a release build). One process: the fake Play Developer API of the
# tests answering its purchase endpoints after LATENCY_MS, two verifiers (live_check on / off)
# over real TLS with keep-alive clients, access token cached; interleaved (a) first
# verifications with the live check, (b) repeats, (c) first verifications without it, (d) the
# fake API alone. Prints p50/p99 of each and the overhead (a) - (c) - LATENCY_MS, with the
# machine's load average before and after (the figures are only as quiet as the machine).
#
# Env: REQUESTS (400 of each kind) LATENCY_MS (30) WARMUP (20)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need cargo "install Rust with rustup"
REQUESTS=${REQUESTS:-400}
LATENCY_MS=${LATENCY_MS:-30}
WARMUP=${WARMUP:-20}

step "build (release bench profile)"
cargo bench --quiet -p payseal-verifier --bench play_live --no-run
step "play_live: $REQUESTS requests of each kind, $LATENCY_MS ms injected"
echo "load before: $(uptime)"
RUST_LOG=${RUST_LOG:-warn} cargo bench --quiet -p payseal-verifier --bench play_live -- \
  --requests "$REQUESTS" --latency-ms "$LATENCY_MS" --warmup "$WARMUP"
echo "load after:  $(uptime)"
