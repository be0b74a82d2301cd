#!/usr/bin/env bash
# Side-by-side benchmark (not a test): PaySeal's App Store rule vs Apple's own Node library
# (`@apple/app-store-server-library` SignedDataVerifier, the sandbox store's test root as the
# root, enableOnlineChecks=false) on the same JWS and chain, and PaySeal's Google Play rule vs
# node `in-app-purchase` 1.11.4's Google check on the same purchase, signature and key.
# The inputs are issued once by the sandbox store into files; both sides read those files.
# Installs the npm packages itself into a scratch folder. Prints a table.
#
# Env: PEERS_DIR (scratch folder; default a fresh mktemp -d), APPLE_LIB_VERSION (3.1.0, the
#      version whose API scripts/bench-peers.cjs was written against), MEASUREMENT_TIME (3 s)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need cargo "install Rust with rustup"
need node "apt-get install nodejs (Node 18 or later)"
need npm "apt-get install npm"
need python3 "apt-get install python3"
APPLE_LIB_VERSION=${APPLE_LIB_VERSION:-3.1.0}
SCRATCH=${PEERS_DIR:-$(mktemp -d /tmp/payseal-peers.XXXXXX)}
APP=com.example.game
IN=$SCRATCH/inputs
mkdir -p "$SCRATCH/npm" "$IN"

step "npm install @apple/app-store-server-library@$APPLE_LIB_VERSION in-app-purchase@1.11.4 (into $SCRATCH/npm)"
npm install --prefix "$SCRATCH/npm" --no-audit --no-fund --silent \
  "@apple/app-store-server-library@$APPLE_LIB_VERSION" in-app-purchase@1.11.4

step "inputs from the sandbox store ($IN)"
cargo build --quiet --release -p payseal-sandbox
SANDBOX=target/release/payseal-sandbox
"$SANDBOX" app-store --dir "$IN/store" --app "$APP" --product gems_100 >"$IN/app_store.json"
"$SANDBOX" google-play --dir "$IN/store" --app "$APP" --product gems_100 --environment production >"$IN/google_play.json"
"$SANDBOX" keys --dir "$IN/store" >"$IN/keys.json"

step "PaySeal: criterion, same files"
PAYSEAL_PEER_INPUTS=$IN PAYSEAL_PEER_APP=$APP cargo bench --quiet -p payseal-rules --bench peers -- \
  --warm-up-time 1 --measurement-time "${MEASUREMENT_TIME:-3}" >"$SCRATCH/criterion.txt"

step "Node: SignedDataVerifier and in-app-purchase, same files"
NODE_PATH=$SCRATCH/npm/node_modules node scripts/bench-peers.cjs "$IN" "$APP" | tee "$SCRATCH/node.json"

python3 - "$SCRATCH/node.json" <<'PY'
import json, sys
node = json.load(open(sys.argv[1]))
def est(name):
    return json.load(open(f"target/criterion/peers/{name}/new/estimates.json"))["median"]["point_estimate"] / 1000.0
cached, uncached, play = est("app_store_cached"), est("app_store_uncached"), est("google_play")
rows = [
    ("App Store, chain cached", cached, f"Apple SignedDataVerifier {node['apple_library']}", node["apple_us"], 30),
    ("App Store, chain verified in full", uncached, f"Apple SignedDataVerifier {node['apple_library']}", node["apple_us"], None),
    ("Google Play", play, f"in-app-purchase {node['in_app_purchase']}", node["in_app_purchase_us"], 5),
]
print(f"\nmedian µs per verification (PaySeal: criterion; Node {node['node']}: median of 15 batches)")
print(f"| {'PaySeal rule':<34} | {'µs':>8} | {'peer':<32} | {'µs':>8} | {'PaySeal faster':>14} | aim |")
print(f"|{'-'*36}|{'-'*10}|{'-'*34}|{'-'*10}|{'-'*16}|-----|")
for name, ours, peer, theirs, aim in rows:
    ratio = theirs / ours
    mark = "" if aim is None else (f"≥ {aim}× {'met' if ratio >= aim else 'NOT met'}")
    print(f"| {name:<34} | {ours:>8.1f} | {peer:<32} | {theirs:>8.1f} | {ratio:>13.1f}× | {mark} |")
print("Apple's library keeps no chain cache with enableOnlineChecks=false: each call verifies the chain.")
PY
