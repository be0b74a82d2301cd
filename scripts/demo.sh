#!/usr/bin/env bash
# The main job, end to end on this machine:
#   builds PaySeal, starts the verifier in dev mode (self-signed TLS, embedded SQLite ledger,
#   sandbox store keys), issues sandbox purchases in the real store formats, and verifies them
#   through the SDK's own path (`payseal-client`: TLS pinned to the profile's SPKI pins, request
#   sealed with HPKE, verdict signature, nonce and receipt hash checked), prints the verdicts, and
#   stops the server.
# Shows: a genuine purchase paid; a forged one not paid (bad_signature); a replay from another
# account not paid (already_redeemed); the same account again paid (repeat); and an impostor
# verifier (a certificate the client trusts, but not the pinned key) refused with pin_mismatch
# before any request byte is sent.
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
# payseal-client needs sdk-core's `cli` feature (required-features): it is built by name, so
# cargo fails loudly if the feature is not met. `-p A -p B -p payseal-sdk-core --bins
# --features=payseal-sdk-core/cli` silently skipped it (cargo 1.95, issue 21): `--bins` drops a
# bin whose required features are off instead of failing.
cargo build --quiet -p payseal-verifier -p payseal-sandbox --bins --features payseal-verifier/dev
cargo build --quiet -p payseal-sdk-core --features cli --bin payseal-client
BIN=$(target_dir)/debug
[[ -x $BIN/payseal-client ]] || fail "$BIN/payseal-client was not built"
STATE=${PAYSEAL_DEMO_DIR:-$(mktemp -d /tmp/payseal-demo.XXXXXX)}
OUT=${PAYSEAL_DEMO_OUT:-$STATE/out}
mkdir -p "$STATE" "$OUT"
PORT=$(free_port)
APP=dev.payseal.demo

start_dev() { # start_dev STATE_DIR PORT LOG → starts a dev verifier in the background, sets DEV_PID
  "$BIN/payseal-verifier" dev --listen "127.0.0.1:$2" --state-dir "$1" >"$3" 2>&1 &
  DEV_PID=$!
  for _ in $(seq 1 600); do [[ -f $1/profile.json && -f $1/tls/cert.pem ]] && break; sleep 0.1; done
  wait_for_https "https://localhost:$2/healthz" "$1/tls/cert.pem" 60 || { cat "$3"; exit 1; }
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

step "start the verifier (dev mode) on 127.0.0.1:$PORT, state in $STATE"
start_dev "$STATE" "$PORT" "$STATE/verifier.log"
SERVER=$DEV_PID
PIDS+=("$SERVER")
CA="$STATE/tls/cert.pem"
grep -v '^\s*$' "$STATE/verifier.log" | head -n 8 || true

submit() { # submit RECEIPT ACCOUNT → the SDK's verdict JSON (payseal-client exits 1 for not paid)
  "$BIN/payseal-client" verify --profile "$STATE/profile.json" --app $APP --ca "$CA" \
    --receipt "$1" --account "$2" --max-attempts 1 || [[ $? == 1 ]]
}
show() { # show LABEL VERDICT_JSON EXPECTED_OUTCOME EXPECTED_REASON_OR_REDEMPTION
  python3 - "$@" <<'PY'
import json, sys
label, verdict, outcome, detail = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
got = "paid" if verdict["paid"] else "not_paid"
got_detail = verdict.get("reason") or verdict.get("redemption")
line = f'{label:<44} → {got:<8} {got_detail:<17} product={verdict.get("product_id")} tx={verdict.get("transaction_id")}'
print(line)
if (got, got_detail) != (outcome, detail):
    sys.exit(f"UNEXPECTED: wanted {outcome}/{detail}")
PY
}
n=0
keep() { n=$((n + 1)); python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$1" >"$OUT/token-$n.jwt"; }

step "sandbox store: issue purchases in the real store formats"
"$BIN/payseal-sandbox" google-play --dir "$STATE" --app $APP --product gems_100 >"$STATE/play.json"
"$BIN/payseal-sandbox" app-store --dir "$STATE" --app $APP --product gems_500 >"$STATE/appstore.json"
"$BIN/payseal-sandbox" huawei --dir "$STATE" --app $APP --product gems_100 >"$STATE/huawei.json"
# The original StoreKit's app receipt (PKCS#7, what Unity IAP hands over on iOS), signed by the
# sandbox store's receipt CA, which the dev config trusts like Apple Inc. Root CA.
"$BIN/payseal-sandbox" app-store-receipt --dir "$STATE" --app $APP --product gems_1000 >"$STATE/app-receipt.json"
# A forgery as Freedom-style tools make it: the genuine signature kept, the JSON edited.
python3 - "$STATE/play.json" "$STATE/forged.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = json.loads(r["purchase_data"]); p["productId"] = "gems_10000"; p["orderId"] += "9"
r["purchase_data"] = json.dumps(p, separators=(",", ":"))
json.dump(r, open(sys.argv[2], "w"))
PY
echo "Play purchase: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["purchase_data"][:90])' "$STATE/play.json")..."

step "verify through the SDK (payseal-client): pinned TLS, sealed both ways, verdict checked"
v=$(submit "$STATE/play.json" alice); keep "$v"; show "Google Play, genuine, alice" "$v" paid first
v=$(submit "$STATE/appstore.json" alice); keep "$v"; show "App Store (StoreKit 2 JWS), genuine, alice" "$v" paid first
v=$(submit "$STATE/huawei.json" alice); keep "$v"; show "Huawei, genuine, alice" "$v" paid first
v=$(submit "$STATE/forged.json" mallory); keep "$v"; show "Google Play, forged JSON, mallory" "$v" not_paid bad_signature
v=$(submit "$STATE/play.json" bob); keep "$v"; show "Google Play, replayed from bob" "$v" not_paid already_redeemed
v=$(submit "$STATE/play.json" alice); keep "$v"; show "Google Play, alice again (restore)" "$v" paid repeat
v=$(submit "$STATE/app-receipt.json" alice); keep "$v"; show "App Store (app receipt), genuine, alice" "$v" paid first

step "pin check: an impostor verifier with a certificate the client trusts, but not the pinned key"
# Another dev verifier (its own TLS key, self-signed for localhost) stands in for a fake verifier
# behind a hijacked DNS name or a CA the device trusts: the client is given its certificate as a
# trusted root, and a copy of the genuine profile sends it there. The chain is valid; the key is
# not one of the profile's pins, so the SDK stops in the handshake: pin_mismatch, nothing sent.
IMPOSTOR=$STATE/impostor
IPORT=$(free_port)
start_dev "$IMPOSTOR" "$IPORT" "$STATE/impostor.log"
PIDS+=("$DEV_PID")
python3 - "$STATE/profile.json" "$STATE/impostor-profile.json" "$IPORT" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["verifier_url"] = f"https://localhost:{sys.argv[3]}"
json.dump(p, open(sys.argv[2], "w"))
PY
set +e
"$BIN/payseal-client" verify --profile "$STATE/impostor-profile.json" --app $APP \
  --ca "$CA" --ca "$IMPOSTOR/tls/cert.pem" --receipt "$STATE/huawei.json" --account alice \
  --max-attempts 1 >"$STATE/impostor.json" 2>/dev/null
code=$?
set -e
python3 - "$STATE/impostor.json" "$code" <<'PY'
import json, sys
doc, code = json.load(open(sys.argv[1])), int(sys.argv[2])
kind = doc.get("error", {}).get("kind")
print(f'{"impostor (trusted cert, unpinned key)":<44} → error    {kind}   exit={code}')
if (code, kind) != (2, "pin_mismatch"):
    sys.exit(f"UNEXPECTED: wanted exit 2 and pin_mismatch, got {doc}")
PY
curl -fsS --cacert "$CA" "https://localhost:$PORT/v1/keys" >"$OUT/keys.json"
python3 - "$OUT/token-1.jwt" >"$OUT/issuer.txt" <<'PY'
import base64, json, sys
p = open(sys.argv[1]).read().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["iss"])
PY

step "stop the verifiers (SIGTERM, graceful)"
cleanup; trap - EXIT
echo "verdict tokens and JWKS in $OUT"
ok "demo through the SDK: genuine paid, forged bad_signature, replay already_redeemed, restore repeat, impostor pin_mismatch"
