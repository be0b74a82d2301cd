# The token checks' shared setup (scripts/interop.sh, scripts/interop-go-java.sh). Source it after
# scripts/lib/common.sh; do not run it.
#   interop_demo OUT       scripts/demo.sh with its state in OUT/state and its tokens in OUT
#                          (token-1..6.jwt), then reverify_tokens OUT
#   reverify_tokens OUT    the demo's verifier started again on its state: the demo's Google Play
#                          purchase verified again twice for its owner (token-7, token-8: paid /
#                          repeat, fresh jtis) and a second purchase of the same product
#                          (token-9: paid / first): the grant-by-purchase cases; then that second
#                          purchase presented for a dearer product (token-10: not_paid /
#                          wrong_product, the cheap-receipt substitution of issue 11); then an App
#                          Store auto-renewable subscription current for 30 days (token-11: paid
#                          / first, kind subscription, expires_at) and one that lapsed a year ago
#                          (token-12: not_paid / expired, its expires_at in the past); then two
#                          App Store subscriptions through `payseal-mitm --mode resign`, which
#                          re-signs the verdict with the verifier's own key after merging protocol
#                          v2 claims (token-13: paid, subscription_state in_grace_period,
#                          store_checked true; token-14: not_paid / on_hold, subscription_state
#                          on_hold, store_checked false)
#                          Before it starts again, the demo's app gets `premium = ["pro_monthly"]`
#                          and an app-server key; after the subscriptions, alice's and bob's
#                          signed entitlements are fetched as an app server does
#                          (GET /v1/app-server/entitlements, HTTP Basic): OUT/entitlements-
#                          {alice,bob}.jwt with the nonce asked in OUT/entitlements-*.nonce
#   demo_serve OUT PORT    `payseal-verifier serve` on OUT/state at 127.0.0.1:PORT (0 when it
#                          answers, 1 when it exited: port taken); demo_stop stops it
# shellcheck shell=bash
DEMO_APP=dev.payseal.demo # the demo's app (scripts/demo.sh)
DEMO_VERIFIER=

demo_stop() {
  [[ -z $DEMO_VERIFIER ]] || { kill -TERM "$DEMO_VERIFIER" 2>/dev/null || true; wait "$DEMO_VERIFIER" 2>/dev/null || true; }
  DEMO_VERIFIER=
}

demo_serve() { # demo_serve OUT PORT
  local out=$1 port=$2 i
  PAYSEAL_LISTEN=127.0.0.1:$port target/debug/payseal-verifier serve --config "$out/state/verifier.toml" >>"$out/verifier-restarted.log" 2>&1 &
  DEMO_VERIFIER=$!
  for ((i = 0; i < 600; i++)); do
    curl -fsS --cacert "$out/state/tls/cert.pem" "https://localhost:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$DEMO_VERIFIER" 2>/dev/null || { wait "$DEMO_VERIFIER" 2>/dev/null || true; DEMO_VERIFIER=; return 1; }
    sleep 0.1
  done
  cat "$out/verifier-restarted.log"
  fail "the verifier did not answer on port $port within 60 s"
}

interop_demo() { # interop_demo OUT
  local out=$1
  PAYSEAL_DEMO_DIR=$out/state PAYSEAL_DEMO_OUT=$out scripts/demo.sh 2>&1 | tee "$out/demo.log"
  reverify_tokens "$out"
}

reverify_tokens() { # reverify_tokens OUT
  local out=$1 state=$1/state port n v
  [[ -f $out/issuer.txt && -f $out/token-6.jwt ]] || fail "no demo tokens in $out"
  cargo build --quiet -p payseal-verifier --example submit # current: one built before protocol v2 refuses its claims
  port=$(cat "$out/issuer.txt")
  port=${port##*:}
  step "re-verify: the demo's verifier again on 127.0.0.1:$port; its Play purchase twice more for alice, a second one once"
  entitlements_config "$state"
  demo_serve "$out" "$port" || { cat "$out/verifier-restarted.log"; fail "the demo's verifier did not start again on port $port (the profile's URL)"; }
  target/debug/payseal-sandbox google-play --dir "$state" --app "$DEMO_APP" --product gems_100 >"$state/play-2.json"
  n=7
  for receipt in play play play-2; do
    v=$(target/debug/examples/submit --profile "$state/profile.json" --ca "$state/tls/cert.pem" --receipt "$state/$receipt.json" --account alice) ||
      { demo_stop; fail "submit $receipt.json failed"; }
    python3 - "$v" "$out/token-$n.jwt" "$out/token-1.jwt" "$receipt" <<'PY' || { demo_stop; exit 1; }
import base64, json, sys
verdict, path, first_path, receipt = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = verdict["claims"]
p = open(first_path).read().split(".")[1]
first = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
same = (c["store"], c["transaction_id"]) == (first["store"], first["transaction_id"])
want = ("repeat", True) if receipt == "play" else ("first", False)
print(f"{receipt + '.json, alice':<44} → {c['outcome']:<8} {c.get('redemption'):<17} tx={c['transaction_id']} jti={c['jti']}")
if c["outcome"] != "paid" or (c.get("redemption"), same) != want or c["jti"] == first["jti"]:
    sys.exit(f"UNEXPECTED: wanted paid/{want[0]}, {'the' if want[1] else 'another'} purchase of token-1, a fresh jti")
open(path, "w").write(verdict["token"])
PY
    n=$((n + 1))
  done
  v=$(target/debug/examples/submit --profile "$state/profile.json" --ca "$state/tls/cert.pem" --receipt "$state/play-2.json" --account alice --product gems_10000) ||
    { demo_stop; fail "submit play-2.json for gems_10000 failed"; }
  python3 - "$v" "$out/token-$n.jwt" <<'PY' || { demo_stop; exit 1; }
import json, sys
verdict, path = json.loads(sys.argv[1]), sys.argv[2]
c = verdict["claims"]
print(f"{'play-2.json, alice, for gems_10000':<44} → {c['outcome']:<8} {c.get('reason'):<17} product={c.get('product_id')} jti={c['jti']}")
if (c["outcome"], c.get("reason"), c.get("product_id")) != ("not_paid", "wrong_product", "gems_100"):
    sys.exit("UNEXPECTED: wanted not_paid/wrong_product for the gems_100 receipt")
open(path, "w").write(verdict["token"])
PY
  n=$((n + 1))
  step "re-verify: an App Store subscription current for 30 days and one that expired a year ago"
  target/debug/payseal-sandbox app-store --dir "$state" --app "$DEMO_APP" --product pro_monthly \
    --type subscription --expires-in 30d >"$state/subscription.json"
  target/debug/payseal-sandbox app-store --dir "$state" --app "$DEMO_APP" --product pro_monthly \
    --type subscription --expires-in -365d >"$state/subscription-lapsed.json"
  for receipt in subscription subscription-lapsed; do
    v=$(target/debug/examples/submit --profile "$state/profile.json" --ca "$state/tls/cert.pem" --receipt "$state/$receipt.json" --account alice) ||
      { demo_stop; fail "submit $receipt.json failed"; }
    python3 - "$v" "$out/token-$n.jwt" "$receipt" <<'PY' || { demo_stop; exit 1; }
import json, sys, time
verdict, path, receipt = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
c, now = verdict["claims"], time.time() * 1000
print(f"{receipt + '.json, alice':<44} → {c['outcome']:<8} {c.get('redemption') or c.get('reason'):<17} kind={c.get('kind')} expires_at={c.get('expires_at')}")
want = ("paid", "first") if receipt == "subscription" else ("not_paid", "expired")
got = (c["outcome"], c.get("redemption") or c.get("reason"))
end = c.get("expires_at")
if got != want or c.get("kind") != "subscription" or not isinstance(end, int) or (end > now) != (want[0] == "paid"):
    sys.exit(f"UNEXPECTED: wanted {want[0]}/{want[1]} with kind subscription and a {'future' if want[0] == 'paid' else 'past'} expires_at")
open(path, "w").write(verdict["token"])
PY
    n=$((n + 1))
  done
  entitlements_tokens "$out" "$port"
  resigned_tokens "$out" "$n"
  demo_stop
}

entitlements_config() { # entitlements_config STATE: premium = pro_monthly and an app-server key (once)
  local state=$1
  grep -q "^\[apps.\"$DEMO_APP\".entitlements\]" "$state/verifier.toml" && return 0
  (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n' >"$state/app-server-key")
  printf '\n[apps."%s".entitlements]\npremium = ["pro_monthly"]\n\n[apps."%s".app_server]\napi_key_file = "%s"\n' \
    "$DEMO_APP" "$DEMO_APP" "$state/app-server-key" >>"$state/verifier.toml"
}

entitlements_tokens() { # entitlements_tokens OUT PORT: alice's and bob's documents, as an app server fetches them
  local out=$1 port=$2 state=$1/state account nonce
  step "entitlements: alice's and bob's signed documents through GET /v1/app-server/entitlements (the app-server credential)"
  for account in alice bob; do
    nonce=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    curl -fsS --cacert "$state/tls/cert.pem" -u "$DEMO_APP:$(cat "$state/app-server-key")" \
      "https://localhost:$port/v1/app-server/entitlements?account=$account&nonce=$nonce" >"$out/entitlements-$account.json" ||
      { demo_stop; fail "GET /v1/app-server/entitlements for $account failed"; }
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["entitlements"])' "$out/entitlements-$account.json" >"$out/entitlements-$account.jwt"
    printf '%s' "$nonce" >"$out/entitlements-$account.nonce"
    echo "entitlements of $account: $(wc -c <"$out/entitlements-$account.jwt") bytes, nonce $nonce"
  done
}

resigned_tokens() { # resigned_tokens OUT N: token-N and token-N+1, protocol v2 claims
  local out=$1 n=$2 state=$1/state port mport pid i claims want receipt v
  port=$(cat "$out/issuer.txt")
  port=${port##*:}
  step "re-verify through payseal-mitm --mode resign (the verifier's own keys): protocol v2 claims (subscription_state, store_checked, reason on_hold) that no verifier path signs yet"
  cargo build --quiet -p payseal-attacks --bin payseal-mitm
  for want in grace on_hold; do
    case $want in
      grace) claims='{"subscription_state":"in_grace_period","store_checked":true}' ;;
      on_hold) claims='{"outcome":"not_paid","reason":"on_hold","redemption":null,"subscription_state":"on_hold","store_checked":false}' ;;
    esac
    : >"$out/mitm-$want.out"
    target/debug/payseal-mitm --listen 127.0.0.1:0 --upstream "https://localhost:$port" \
      --cert "$state/tls/cert.pem" --key "$state/tls/key.pem" --upstream-ca "$state/tls/cert.pem" \
      --mode resign --state-dir "$state" --claims "$claims" >"$out/mitm-$want.out" 2>>"$out/mitm.log" &
    pid=$!
    mport=
    for ((i = 0; i < 600; i++)); do
      mport=$(sed -n 's|^listening on https://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$out/mitm-$want.out")
      [[ -n $mport ]] && break
      kill -0 "$pid" 2>/dev/null || { cat "$out/mitm.log"; demo_stop; fail "payseal-mitm exited"; }
      sleep 0.1
    done
    [[ -n $mport ]] || { kill "$pid"; demo_stop; fail "payseal-mitm did not listen within 60 s"; }
    sed "s|https://localhost:$port|https://localhost:$mport|" "$state/profile.json" >"$out/profile-mitm.json"
    receipt=$state/subscription-$want.json
    target/debug/payseal-sandbox app-store --dir "$state" --app "$DEMO_APP" --product pro_monthly \
      --type subscription --expires-in 30d >"$receipt"
    v=$(target/debug/examples/submit --profile "$out/profile-mitm.json" --ca "$state/tls/cert.pem" --receipt "$receipt" --account alice) ||
      { kill "$pid"; demo_stop; fail "submit through payseal-mitm failed"; }
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$v" "$out/token-$n.jwt" "$want" <<'PY' || { demo_stop; exit 1; }
import json, sys
verdict, path, want = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
c = verdict["claims"]
got = (c["outcome"], c.get("reason"), c.get("subscription_state"), c.get("store_checked"))
print(f"{'resigned subscription, alice':<44} → {c['outcome']:<8} {c.get('redemption') or c.get('reason'):<17} subscription_state={got[2]} store_checked={got[3]}")
expected = {"grace": ("paid", None, "in_grace_period", True), "on_hold": ("not_paid", "on_hold", "on_hold", False)}[want]
if got != expected:
    sys.exit(f"UNEXPECTED: wanted {expected}")
open(path, "w").write(verdict["token"])
PY
    n=$((n + 1))
  done
}
