#!/usr/bin/env bash
# Load benchmark of the verifier (not a test): criterion figures for the per-request crypto, then a
# load of keep-alive HTTPS connections against `payseal-verifier serve` on loopback.
# Prints requests/s, p50/p99, errors, and the crypto-bound ceiling computed from the criterion
# figures of the same run (cores / (envelope open+seal + Play rule + verdict signing)), and the
# server process's own CPU time per request (utime+stime from /proc/<pid>/stat before and after
# the load, divided by the requests) next to that crypto floor per request: a ratio that does
# not depend on the load client sharing the cores. Then the same load against the `transport`
# example (the verifier's TLS configuration and HTTP stack answering with a body of a verdict's
# size) on the same port, making per request as many Ed25519 signatures as cost the crypto floor
# alone and counting their CPU apart: its CPU per request beyond those signatures is the
# transport's cost on this machine under the verifier's conditions, and what is left of the
# verifier's CPU after the crypto floor and the transport is PaySeal's own (ledger, JSON,
# routing, metrics, allocations, and what running them beside the crypto costs). The criterion
# step also times the whole decision in-process (`service` bench), PaySeal's own with hot caches.
#
# Env: CONNECTIONS (64) DURATION (30 s) UNIQUE (2000 distinct receipts) LEDGER (default: the dev
#      state's SQLite file; e.g. postgres://... to bench another backend) SKIP_CRITERION=1
#      ROUNDS (1; more alternate the verifier and the transport and report medians: this machine's
#      speed drifts by ±10 % between minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need cargo "install Rust with rustup"
need python3 "apt-get install python3"
CONNECTIONS=${CONNECTIONS:-64}
# (not SECONDS: bash's own SECONDS counts from the shell's start, so it is always set)
SECONDS_=${DURATION:-30}
UNIQUE=${UNIQUE:-2000}
ROUNDS=${ROUNDS:-1}

if [[ -z ${SKIP_CRITERION:-} ]]; then
  step "criterion: per-request costs"
  cargo bench --quiet -p payseal-protocol --bench envelope -- --warm-up-time 1 --measurement-time 3 'server' >/dev/null
  cargo bench --quiet -p payseal-protocol --bench verdict -- --warm-up-time 1 --measurement-time 3 'sign' >/dev/null
  cargo bench --quiet -p payseal-rules --bench rules -- --warm-up-time 1 --measurement-time 3 'google_play' >/dev/null
  # The whole decision in-process (no TLS, no HTTP), for the owner's repeat: what PaySeal's own
  # code adds to the crypto with hot caches on one thread.
  cargo bench --quiet -p payseal-verifier --features dev --bench service -- --warm-up-time 1 --measurement-time 5 'repeat' >/dev/null
fi

step "build (release)"
cargo build --quiet --release -p payseal-verifier --bins --examples --features dev
BIN=target/release
STATE=$(mktemp -d /tmp/payseal-bench.XXXXXX)
PORT=$(free_port)
dev_state "$BIN" "$STATE" "$PORT"

if [[ -n ${LEDGER:-} ]]; then export PAYSEAL_LEDGER=$LEDGER; fi
SERVER=
trap '[[ -n $SERVER ]] && { kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; }' EXIT

# The crypto floor per request from this run's criterion figures (0 when skipped).
FLOOR_US=$(python3 scripts/lib/crypto_floor.py)

# busy: the transport's CPU µs in its signatures so far.
busy() { curl -fsS --cacert "$STATE/tls/cert.pem" "https://localhost:$PORT/busy"; }

# measure KIND ROUND: one load against `payseal-verifier serve` (KIND verifier) or the
# `transport` example (KIND transport, answering with a body the size of the verifier's last
# response, `--busy-us` the crypto floor); the load's report in $STATE/KIND-ROUND.json; in
# $STATE/KIND-ROUND.cpu the server's CPU ticks before and after, and the transport's CPU µs in
# its signatures before and after (`GET /busy`; 0 for the verifier).
measure() {
  local kind=$1 round=$2 raw=() before after busy_before=0 busy_after=0
  if [[ $kind == verifier ]]; then
    RUST_LOG=warn "$BIN/payseal-verifier" serve --config "$STATE/verifier.toml" >"$STATE/serve.log" 2>&1 &
  else
    local bytes
    bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["response_bytes"])' "$STATE/verifier-$round.json")
    "$BIN/examples/transport" --listen "127.0.0.1:$PORT" --cert "$STATE/tls/cert.pem" --key "$STATE/tls/key.pem" \
      --response-bytes "$bytes" --busy-us "$FLOOR_US" >"$STATE/transport.log" 2>&1 &
    raw=(--raw)
  fi
  SERVER=$!
  wait_for_https "https://localhost:$PORT/healthz" "$STATE/tls/cert.pem" 60
  [[ $kind == transport ]] && busy_before=$(busy)
  before=$(cpu_ticks "$SERVER")
  "$BIN/examples/load" --profile "$STATE/profile.json" --ca "$STATE/tls/cert.pem" --store "$STATE/sandbox-store" \
    --connections "$CONNECTIONS" --seconds "$SECONDS_" --unique "$UNIQUE" "${raw[@]}" >"$STATE/$kind-$round.json"
  after=$(cpu_ticks "$SERVER")
  [[ $kind == transport ]] && busy_after=$(busy)
  echo "$before $after $busy_before $busy_after" >"$STATE/$kind-$round.cpu"
  kill -TERM $SERVER; wait $SERVER || true
  SERVER=
}

for round in $(seq 1 "$ROUNDS"); do
  step "round $round of $ROUNDS: $CONNECTIONS connections, ${SECONDS_}s, $UNIQUE distinct receipts, verifier then transport"
  measure verifier "$round"
  cat "$STATE/verifier-$round.json"
  measure transport "$round"
done

python3 scripts/lib/bench_report.py "$STATE" "$ROUNDS" "$(nproc)" "$(getconf CLK_TCK)"
