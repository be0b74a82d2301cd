#!/usr/bin/env bash
# The main job, end to end on this machine:
#   builds PaySeal, starts the verifier in dev mode (self-signed TLS, embedded SQLite ledger,
#   sandbox store keys), issues sandbox purchases in the real store formats, sends them sealed over
#   HTTPS, prints the verdicts, and stops the server.
# Shows: a genuine purchase paid; a forged one not paid (bad_signature); a replay from another
# account not paid (already_redeemed); the same account again paid (repeat).
#
# Env: PAYSEAL_DEMO_DIR  keep state here (default: a fresh temporary folder)
#      PAYSEAL_DEMO_OUT  also write verdict tokens and the JWKS here (used by scripts/interop-jose.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need cargo "install Rust with rustup: https://rustup.rs"
need curl "apt-get install curl"
need python3 "apt-get install python3"

step "build"
cargo build --quiet -p payseal-verifier -p payseal-sandbox --bins --examples
BIN=target/debug
STATE=${PAYSEAL_DEMO_DIR:-$(mktemp -d /tmp/payseal-demo.XXXXXX)}
OUT=${PAYSEAL_DEMO_OUT:-$STATE/out}
mkdir -p "$STATE" "$OUT"
PORT=$(free_port)
APP=dev.payseal.demo

step "start the verifier (dev mode) on 127.0.0.1:$PORT, state in $STATE"
"$BIN/payseal-verifier" dev --listen "127.0.0.1:$PORT" --state-dir "$STATE" >"$STATE/verifier.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
CA="$STATE/tls/cert.pem"
for _ in $(seq 1 600); do [[ -f $STATE/profile.json && -f $CA ]] && break; sleep 0.1; done
wait_for_https "https://localhost:$PORT/healthz" "$CA" 60 || { cat "$STATE/verifier.log"; exit 1; }
grep -v '^\s*$' "$STATE/verifier.log" | head -n 8 || true

submit() { # submit RECEIPT ACCOUNT → prints the verdict JSON, saves the token
  "$BIN/examples/submit" --profile "$STATE/profile.json" --ca "$CA" --receipt "$1" --account "$2"
}
show() { # show LABEL VERDICT_JSON EXPECTED_OUTCOME EXPECTED_REASON_OR_REDEMPTION
  python3 - "$@" <<'PY'
import json, sys
label, verdict, outcome, detail = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
c = verdict["claims"]
got_detail = c.get("reason") or c.get("redemption")
line = f'{label:<44} → {c["outcome"]:<8} {got_detail:<17} product={c.get("product_id")} tx={c.get("transaction_id")}'
print(line)
if (c["outcome"], got_detail) != (outcome, detail):
    sys.exit(f"UNEXPECTED: wanted {outcome}/{detail}")
PY
}
n=0
keep() { n=$((n + 1)); python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$1" >"$OUT/token-$n.jwt"; }

step "sandbox store: issue purchases in the real store formats"
"$BIN/payseal-sandbox" google-play --dir "$STATE" --app $APP --product gems_100 >"$STATE/play.json"
"$BIN/payseal-sandbox" app-store --dir "$STATE" --app $APP --product gems_500 >"$STATE/appstore.json"
"$BIN/payseal-sandbox" huawei --dir "$STATE" --app $APP --product gems_100 >"$STATE/huawei.json"
# A forgery as Freedom-style tools make it: the genuine signature kept, the JSON edited.
python3 - "$STATE/play.json" "$STATE/forged.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = json.loads(r["purchase_data"]); p["productId"] = "gems_10000"; p["orderId"] += "9"
r["purchase_data"] = json.dumps(p, separators=(",", ":"))
json.dump(r, open(sys.argv[2], "w"))
PY
echo "Play purchase: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["purchase_data"][:90])' "$STATE/play.json")..."

step "verify over HTTPS, sealed both ways"
v=$(submit "$STATE/play.json" alice); keep "$v"; show "Google Play, genuine, alice" "$v" paid first
v=$(submit "$STATE/appstore.json" alice); keep "$v"; show "App Store (StoreKit 2 JWS), genuine, alice" "$v" paid first
v=$(submit "$STATE/huawei.json" alice); keep "$v"; show "Huawei, genuine, alice" "$v" paid first
v=$(submit "$STATE/forged.json" mallory); keep "$v"; show "Google Play, forged JSON, mallory" "$v" not_paid bad_signature
v=$(submit "$STATE/play.json" bob); keep "$v"; show "Google Play, replayed from bob" "$v" not_paid already_redeemed
v=$(submit "$STATE/play.json" alice); keep "$v"; show "Google Play, alice again (restore)" "$v" paid repeat

curl -fsS --cacert "$CA" "https://localhost:$PORT/v1/keys" >"$OUT/keys.json"
python3 - "$OUT/token-1.jwt" >"$OUT/issuer.txt" <<'PY'
import base64, json, sys
p = open(sys.argv[1]).read().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["iss"])
PY

step "stop the verifier (SIGTERM, graceful)"
kill -TERM $SERVER; wait $SERVER || true; trap - EXIT
echo "verdict tokens and JWKS in $OUT"
ok "demo: genuine paid, forged bad_signature, replay already_redeemed, restore repeat"
