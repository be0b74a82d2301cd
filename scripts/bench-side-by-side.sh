#!/usr/bin/env bash
# Side-by-side server CPU per request of two verifier builds (an older tree's and this one), alternating, same load.
# Usage: BASE_BIN=/path/to/old/target/release [NEW_BIN=target/release] DURATION=20 scripts/bench-side-by-side.sh
# (build both with: cargo build --release -p payseal-verifier --bins --examples --features dev)
# Prints req/s, latency and the server's CPU per request (with LEDGER=postgres://, the PostgreSQL
# processes' CPU per request too).
# Env: CONNECTIONS (64) DURATION (20 s) UNIQUE (2000) ROUNDS (3) LEDGER (default: each run's own
#      SQLite file; postgres://... serves both builds from that database, fresh receipts each run)
#      SERVER_CPUS / LOAD_CPUS (e.g. 0 and 1: `taskset -c` lists for the server and the load
#      client, to see the server's cost without the client preempting it on the same cores)
set -euo pipefail
cd "$(dirname "$0")/.."; source scripts/lib/common.sh
DUR=${DURATION:-20}; CONN=${CONNECTIONS:-64}; UNIQUE=${UNIQUE:-2000}
# The CPU ticks of every PostgreSQL process now (backends started during the run count whole).
db_ticks() { local t=0 p; for p in $(pgrep -x postgres || true); do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done; echo $t; }
run() { # run LABEL BIN_DIR
  local label=$1 BIN=$2 STATE PORT SERVER
  STATE=$(mktemp -d /tmp/payseal-bench.XXXXXX); PORT=$(free_port)
  dev_state "$BIN" "$STATE" "$PORT"
  ${SERVER_CPUS:+taskset -c "$SERVER_CPUS"} env ${LEDGER:+PAYSEAL_LEDGER=$LEDGER} RUST_LOG=warn "$BIN/payseal-verifier" serve --config "$STATE/verifier.toml" >"$STATE/serve.log" 2>&1 &
  SERVER=$!
  wait_for_https "https://localhost:$PORT/healthz" "$STATE/tls/cert.pem" 60
  local before after db_before db_after
  db_before=$(db_ticks)
  before=$(cpu_ticks $SERVER)
  ${LOAD_CPUS:+taskset -c "$LOAD_CPUS"} "$BIN/examples/load" --profile "$STATE/profile.json" --ca "$STATE/tls/cert.pem" --store "$STATE/sandbox-store" \
    --connections $CONN --seconds $DUR --unique $UNIQUE > "$STATE/load.json"
  after=$(cpu_ticks $SERVER)
  db_after=$(db_ticks)
  kill -TERM $SERVER; wait $SERVER || true
  python3 - "$label" "$STATE/load.json" "$before" "$after" "$(getconf CLK_TCK)" "$db_before" "$db_after" "${LEDGER:-}" <<'PY'
import json, sys
label, load = sys.argv[1], json.load(open(sys.argv[2]))
tck = int(sys.argv[5])
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / tck
served = load["requests"] + load["errors"]
db = f"  database CPU {(int(sys.argv[7]) - int(sys.argv[6])) / tck * 1e6 / served:.1f} µs/request" if sys.argv[8] else ""
print(f"{label:<5} {load['requests_per_second']:>8,.0f} req/s  p50 {load['p50_ms']} ms  p99 {load['p99_ms']} ms  errors {load['errors']}  server CPU {cpu*1e6/served:.1f} µs/request{db}")
PY
  rm -rf "$STATE"
}
for round in $(seq 1 "${ROUNDS:-3}"); do
  run base "${BASE_BIN:?set BASE_BIN to the target/release folder of the older tree}"
  run new "${NEW_BIN:-target/release}"
done
