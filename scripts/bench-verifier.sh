#!/usr/bin/env bash
# Load benchmark of the verifier (not a test): criterion figures for the per-request crypto, then a
# load of keep-alive HTTPS connections against `payseal-verifier serve` on loopback.
# Prints requests/s, p50/p99, errors, and the crypto-bound ceiling computed from the criterion
# figures of the same run (cores / (envelope open+seal + Play rule + verdict signing)), and the
# server process's own CPU time per request (utime+stime from /proc/<pid>/stat before and after
# the load, divided by the requests) next to that crypto floor per request: a ratio that does
# not depend on the load client sharing the cores.
#
# Env: CONNECTIONS (64) DURATION (30 s) UNIQUE (2000 distinct receipts) LEDGER (default: the dev
#      state's SQLite file; e.g. postgres://... to bench another backend) SKIP_CRITERION=1
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need cargo "install Rust with rustup"
need python3 "apt-get install python3"
CONNECTIONS=${CONNECTIONS:-64}
# (not SECONDS: bash's own SECONDS counts from the shell's start, so it is always set)
SECONDS_=${DURATION:-30}
UNIQUE=${UNIQUE:-2000}

if [[ -z ${SKIP_CRITERION:-} ]]; then
  step "criterion: per-request costs"
  cargo bench --quiet -p payseal-protocol --bench envelope -- --warm-up-time 1 --measurement-time 3 'server' >/dev/null
  cargo bench --quiet -p payseal-protocol --bench verdict -- --warm-up-time 1 --measurement-time 3 'sign' >/dev/null
  cargo bench --quiet -p payseal-rules --bench rules -- --warm-up-time 1 --measurement-time 3 'google_play' >/dev/null
fi

step "build (release)"
cargo build --quiet --release -p payseal-verifier --bins --examples --features dev
BIN=target/release
STATE=$(mktemp -d /tmp/payseal-bench.XXXXXX)
PORT=$(free_port)
"$BIN/payseal-verifier" dev --listen "127.0.0.1:$PORT" --state-dir "$STATE" >"$STATE/dev.log" 2>&1 &
DEV=$!
for _ in $(seq 1 600); do [[ -f $STATE/profile.json ]] && break; sleep 0.1; done
wait_for_https "https://localhost:$PORT/healthz" "$STATE/tls/cert.pem" 60
kill -TERM $DEV; wait $DEV || true

step "serve --config $STATE/verifier.toml"
if [[ -n ${LEDGER:-} ]]; then export PAYSEAL_LEDGER=$LEDGER; fi
RUST_LOG=warn "$BIN/payseal-verifier" serve --config "$STATE/verifier.toml" >"$STATE/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
wait_for_https "https://localhost:$PORT/healthz" "$STATE/tls/cert.pem" 60

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks (all threads).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

step "load: $CONNECTIONS connections, ${SECONDS_}s, $UNIQUE distinct receipts"
CPU_BEFORE=$(cpu_ticks "$SERVER")
"$BIN/examples/load" --profile "$STATE/profile.json" --ca "$STATE/tls/cert.pem" --store "$STATE/sandbox-store" \
  --connections "$CONNECTIONS" --seconds "$SECONDS_" --unique "$UNIQUE" | tee "$STATE/load.json"
CPU_AFTER=$(cpu_ticks "$SERVER")

python3 - "$STATE/load.json" "$(nproc)" "$CPU_BEFORE" "$CPU_AFTER" "$(getconf CLK_TCK)" <<'PY'
import glob, json, os, sys
load = json.load(open(sys.argv[1])); cores = int(sys.argv[2])
cpu_s = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5])
def est(pattern):
    hits = sorted(glob.glob(f"target/criterion/{pattern}/new/estimates.json"))
    if not hits:
        return None
    return json.load(open(hits[0]))["median"]["point_estimate"] / 1000.0  # ns → µs
parts = {"envelope open + seal": est("envelope*/server*"), "verdict sign": est("verdict*/sign*"), "Play rule": est("rules*/google_play*")}
print("\nper-request crypto (criterion medians, µs):")
for k, v in parts.items():
    print(f"  {k:<22} {v if v is None else round(v, 1)}")
if all(v is not None for v in parts.values()):
    per = sum(parts.values())
    ceiling = cores * 1e6 / per
    rps = load["requests_per_second"]
    print(f"crypto-bound ceiling: {ceiling:,.0f} req/s on {cores} cores ({per:.1f} µs/request)")
    print(f"measured: {rps:,.0f} req/s = {100 * rps / ceiling:.0f}% of the ceiling; p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, errors {load['errors']}")
    served = load["requests"] + load["errors"]
    if served:
        cpu_us = cpu_s * 1e6 / served
        print(f"server CPU (utime+stime): {cpu_s:.2f} s for {served:,} requests = {cpu_us:.1f} µs/request, "
              f"{cpu_us / per:.2f}× the crypto floor of {per:.1f} µs/request (aim ≤ 2×)")
else:
    print("criterion figures missing: run without SKIP_CRITERION")
PY
