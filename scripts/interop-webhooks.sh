#!/usr/bin/env bash
# The webhook receivers of the book (docs/src/webhooks.md, "Receiving webhooks"), tested end to end against a real
# verifier: tests/interop/webhooks/receiver.py (Python standard library) and receiver.mjs (Node
# standard library) each run as a loopback HTTP server; a real `payseal-verifier serve` with two
# apps, one webhook to each receiver, gets genuine sandbox purchases through the demo client and
# delivers `purchase.paid` events (HMAC-SHA256 PaySeal-Signature over real HTTP). Then each
# receiver is sent a forged, a tampered, a stale, a replayed and a re-signed webhook directly.
# Prints one line per check and `N passed, N failed`; exits 1 on any failure.
# Needs cargo, curl, python3 and node (18+); no npm or PyPI package.
#
# Env: PAYSEAL_WEBHOOKS_KEEP=1  keep the work folder (state, logs, events files) after a pass
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need cargo "install Rust with rustup: https://rustup.rs"
need curl "apt-get install curl"
need python3 "apt-get install python3"
need node "apt-get install nodejs"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  fail "node $(node --version) is too old for tests/interop/webhooks/receiver.mjs: Node 18 or newer is needed (apt-get install nodejs from Debian 12 gives 18)"

step "build"
cargo build --quiet -p payseal-verifier -p payseal-sandbox --bins --examples --features payseal-verifier/dev
BIN=target/debug
HOOKS=tests/interop/webhooks
WORK=$(mktemp -d /tmp/payseal-webhooks.XXXXXX)
STATE=$WORK/state
START=$SECONDS

PIDS=()
cleanup() {
  local status=$? pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $status -eq 0 && -z ${PAYSEAL_WEBHOOKS_KEEP:-} ]]; then
    rm -rf "$WORK"
  else
    echo "state, logs and events files kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# stop PID: SIGTERM one process we started and wait for it.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  PIDS=("${kept[@]+"${kept[@]}"}")
}

PASSED=0
FAILED=0
check() { # check DESCRIPTION COMMAND...: one line, counted
  local what=$1
  shift
  if "$@"; then
    PASSED=$((PASSED + 1))
    printf 'ok   %s\n' "$what"
  else
    FAILED=$((FAILED + 1))
    printf 'FAIL %s\n' "$what"
  fi
}

# ---- the two receivers ------------------------------------------------------------------------
# Each app gets its own secret (32 random bytes as hex: 64 bytes, the verifier wants at least 16).
NAMES=(python node)
declare -A APP=([python]=dev.payseal.hooks.python [node]=dev.payseal.hooks.node)
declare -A CMD=([python]="python3 $HOOKS/receiver.py" [node]="node $HOOKS/receiver.mjs")
declare -A PORT_OF PID_OF URL_OF
for r in "${NAMES[@]}"; do
  python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/$r.secret"
  chmod 600 "$WORK/$r.secret"
done

start_receiver() { # start_receiver NAME [PORT]
  local r=$1 port=${2:-0} i
  rm -f "$WORK/$r.port"
  # shellcheck disable=SC2086 # CMD holds "interpreter file"
  ${CMD[$r]} --secret-file "$WORK/$r.secret" --events "$WORK/$r-events.jsonl" \
    --port "$port" --port-file "$WORK/$r.port" >>"$WORK/$r.log" 2>&1 &
  PID_OF[$r]=$!
  PIDS+=("$!")
  for ((i = 0; i < 100; i++)); do
    [[ -s $WORK/$r.port ]] && break
    kill -0 "${PID_OF[$r]}" 2>/dev/null || { cat "$WORK/$r.log"; fail "the $r receiver exited"; }
    sleep 0.1
  done
  [[ -s $WORK/$r.port ]] || { cat "$WORK/$r.log"; fail "the $r receiver did not start within 10 s"; }
  PORT_OF[$r]=$(cat "$WORK/$r.port")
  URL_OF[$r]=http://127.0.0.1:${PORT_OF[$r]}/webhooks/payseal
}

step "start the receivers (Python http.server + hmac, Node node:http + node:crypto)"
for r in "${NAMES[@]}"; do
  start_receiver "$r"
  echo "$r receiver: ${URL_OF[$r]} (pid ${PID_OF[$r]}), app ${APP[$r]}"
done

# ---- the verifier ------------------------------------------------------------------------------
VPORT=$(free_port)
CA=$STATE/tls/cert.pem
step "make a dev state on 127.0.0.1:$VPORT (payseal-verifier dev, once), then configure the webhooks"
"$BIN/payseal-verifier" dev --listen "127.0.0.1:$VPORT" --state-dir "$STATE" >"$WORK/dev.log" 2>&1 &
DEV=$!
PIDS+=("$DEV")
for _ in $(seq 1 600); do [[ -f $STATE/profile.json && -f $CA ]] && break; sleep 0.1; done
wait_for_https "https://localhost:$VPORT/healthz" "$CA" 60 || { cat "$WORK/dev.log"; exit 1; }
stop "$DEV"

# Two apps, copies of the dev app (same sandbox store keys) under their own ids, each with a
# webhook to one receiver; the fastest delivery timing the [webhooks] section accepts for retries
# (1 ms is its minimum) and a short poll so the test does not wait.
CONF=$STATE/verifier.toml
python3 - "$CONF" "${APP[python]}" "${APP[node]}" <<'PY'
import sys
path, *apps = sys.argv[1:]
text = open(path).read()
dev_app = text[text.index('[apps."dev.payseal.demo"]'):]
for app in apps:
    text += "\n" + dev_app.replace('"dev.payseal.demo"', f'"{app}"')
open(path, "w").write(text)
PY
cat >>"$CONF" <<EOF

[apps."${APP[python]}".webhook]
url = "${URL_OF[python]}"
secret_file = "$WORK/python.secret"

[apps."${APP[node]}".webhook]
url = "${URL_OF[node]}"
secret_file = "$WORK/node.secret"

[webhooks]
poll_interval_ms = 50
retry_base_ms = 1
retry_max_ms = 200
timeout_ms = 5000
EOF

step "serve: payseal-verifier serve --config $CONF"
"$BIN/payseal-verifier" serve --config "$CONF" >"$WORK/verifier.log" 2>&1 &
VERIFIER=$!
PIDS+=("$VERIFIER")
wait_for_https "https://localhost:$VPORT/healthz" "$CA" 60 || { cat "$WORK/verifier.log"; exit 1; }

# ---- purchases ---------------------------------------------------------------------------------
# verdict RECEIPT APP ACCOUNT → "outcome detail jti" from the demo client (the demo's submit).
verdict() {
  "$BIN/examples/submit" --profile "$STATE/profile.json" --ca "$CA" --receipt "$1" --app "$2" --account "$3" |
    python3 -c 'import json,sys; c=json.load(sys.stdin)["claims"]; print(c["outcome"], c.get("reason") or c.get("redemption"), c["jti"])'
}
declare -A EXPECTED=([python]="" [node]="")
PAID=0
buy() { # buy RECEIVER STORE PRODUCT ACCOUNT: a genuine purchase, paid/first; its jti is expected
  local r=$1 store=$2 product=$3 account=$4 v
  PAID=$((PAID + 1))
  "$BIN/payseal-sandbox" "$store" --dir "$STATE" --app "${APP[$r]}" --product "$product" >"$WORK/receipt-$PAID.json"
  v=$(verdict "$WORK/receipt-$PAID.json" "${APP[$r]}" "$account") || v="submit failed -"
  check "verifier: $store $product for $account of ${APP[$r]} → ${v% *} (jti ${v##* })" test "${v% *}" = "paid first"
  EXPECTED[$r]+="${v##* } "
}
again() { # again RECEIVER RECEIPT ACCOUNT WANT: a verdict that must not make an event
  local v
  v=$(verdict "$2" "${APP[$1]}" "$3") || v="submit failed -"
  check "verifier: $5 → ${v% *} (no event)" test "${v% *}" = "$4"
}

step "genuine sandbox purchases, sent sealed over HTTPS to the verifier"
buy python google-play gems_100 alice
buy python app-store gems_500 alice
buy node huawei gems_100 bob
buy node sandbox gems_10 bob
again python "$WORK/receipt-1.json" alice "paid repeat" "the Play purchase again from alice (restore)"
again python "$WORK/receipt-1.json" mallory "not_paid already_redeemed" "the Play purchase replayed from mallory"
python3 - "$WORK/receipt-3.json" "$WORK/forged.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = json.loads(r["purchase_data"]); p["productId"] = "gems_10000"; p["orderId"] += "9"
r["purchase_data"] = json.dumps(p, separators=(",", ":"))
json.dump(r, open(sys.argv[2], "w"))
PY
again node "$WORK/forged.json" mallory "not_paid bad_signature" "a forged Huawei purchase (JSON edited)"

# ---- deliveries --------------------------------------------------------------------------------
# q FILE EXPR [ARG...]: a Python expression over a JSON-lines file: `ev` its rows, `acc` the rows a
# receiver accepted, `ids(rows)` their sorted ids, `args` the ARGs. Prints the value, no newline.
q() {
  python3 - "$@" <<'PY'
import json, os, sys
path, expr, *args = sys.argv[1:]
ev = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
acc = [e for e in ev if e.get("result") == "accepted"]
ids = lambda rows: " ".join(sorted(e["id"] for e in rows))
print(eval(expr), end="")
PY
}
sorted_words() { tr -s ' ' '\n' <<<"$*" | sed '/^$/d' | sort | paste -sd' '; } # the words, sorted
outbox() { "$BIN/payseal-verifier" webhooks --config "$CONF" list "$@"; }

step "wait for the verifier to deliver (outbox empty, every expected event at its receiver)"
for ((i = 0; i < 300; i++)); do
  pending=$(outbox --pending | wc -l) || fail "payseal-verifier webhooks list failed"
  got=$(($(q "$WORK/python-events.jsonl" 'len(acc)') + $(q "$WORK/node-events.jsonl" 'len(acc)')))
  [[ $pending -eq 0 && $got -ge $PAID ]] && break
  sleep 0.1
done
sleep 0.3 # an event the verifier should not have sent would arrive by now

outbox >"$WORK/outbox.jsonl"
check "verifier outbox: $PAID purchase.paid events, all delivered: one per paid/first verdict, none for repeat/replay/forgery" \
  test "$(q "$WORK/outbox.jsonl" 'ids(ev) if all(e["state"] == "delivered" and e["type"] == "purchase.paid" for e in ev) else ev')" \
  = "$(sorted_words "${EXPECTED[python]} ${EXPECTED[node]}")"
for r in "${NAMES[@]}"; do
  EV=$WORK/$r-events.jsonl
  want=$(sorted_words "${EXPECTED[$r]}")
  check "$r receiver: accepted exactly the jti of its app's paid/first verdicts, once each: $want" \
    test "$(q "$EV" 'ids(acc)')" = "$want"
  check "$r receiver: each accepted event is purchase.paid for ${APP[$r]}" \
    test "$(q "$EV" 'all(e["type"] == "purchase.paid" and e["app"] == args[0] for e in acc)' "${APP[$r]}")" = True
  check "$r receiver: refused nothing the verifier sent" test "$(q "$EV" 'sum(e["result"] == "rejected" for e in ev)')" = 0
done

# ---- direct sends: forged, tampered, stale, replayed, re-signed --------------------------------
# sign SECRET_FILE T BODY_FILE → a PaySeal-Signature value (HMAC-SHA256 over "<t>.<body>")
sign() {
  python3 - "$@" <<'PY'
import hashlib, hmac, sys
secret = open(sys.argv[1], "rb").read().rstrip(b"\r\n")
t, body = sys.argv[2], open(sys.argv[3], "rb").read()
print(f"t={t},v1={hmac.new(secret, t.encode() + b'.' + body, hashlib.sha256).hexdigest()}")
PY
}
# send URL SIGNATURE BODY_FILE → the HTTP status
send() {
  curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "PaySeal-Signature: $2" -H 'PaySeal-Event: purchase.paid' --data-binary @"$3" "$1" || true
}
accepted() { q "$1" 'sum(e["id"] == args[0] for e in acc)' "$2"; } # accepted EVENTS ID → how often
last() { q "$1" 'ev[-1]["result"] + ":" + (ev[-1].get("reason") or ev[-1].get("id"))'; }
# expect CODE EVENTS STATUS LAST ID TIMES: the HTTP status matches STATUS (4?? or 2??), the last
# line the receiver wrote is LAST ("rejected:REASON" or "duplicate:ID"), ID was recorded TIMES times.
expect() {
  # shellcheck disable=SC2053 # $3 is a pattern
  [[ $1 == $3 && $(last "$2") == "$4" && $(accepted "$2" "$5") == "$6" ]]
}

step "direct sends to each receiver: forged, tampered, stale, replayed, re-signed, after a restart"
for r in "${NAMES[@]}"; do
  EV=$WORK/$r-events.jsonl
  url=${URL_OF[$r]}
  if [[ $(q "$EV" 'len(acc)') == 0 ]]; then
    check "$r receiver: a genuine delivery to start from" false
    continue
  fi
  # Bodies in the shape the verifier sends: a genuine delivery's, with a new event id or one
  # field changed.
  q "$EV" 'acc[0]["body"]' >"$WORK/$r-genuine.json"
  q "$EV" 'acc[0]["signature"]' >"$WORK/$r-genuine.sig"
  genuine_id=$(q "$EV" 'acc[0]["id"]')
  for kind in forged stale; do
    q "$EV" 'json.dumps({**json.loads(acc[0]["body"]), "id": args[0]}, separators=(",", ":"))' \
      "$kind-$r-$RANDOM$RANDOM" >"$WORK/$r-$kind.json"
  done
  q "$EV" 'acc[0]["body"].replace("\"quantity\":1,", "\"quantity\":100,", 1)' >"$WORK/$r-tampered.json"
  cmp -s "$WORK/$r-genuine.json" "$WORK/$r-tampered.json" && fail "the tampered body is the genuine one (no quantity 1?)"
  python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/wrong.secret"

  # (a) forged: a new event signed now with a wrong secret
  id=$(q "$WORK/$r-forged.json" 'ev[0]["id"]')
  code=$(send "$url" "$(sign "$WORK/wrong.secret" "$(date +%s)" "$WORK/$r-forged.json")" "$WORK/$r-forged.json")
  check "$r receiver: forged (wrong secret) → $code, $(last "$EV"), recorded $(accepted "$EV" "$id")×" \
    expect "$code" "$EV" "4??" "rejected:bad signature" "$id" 0

  # (a') tampered: a genuine delivery's signature header on its body with one field changed
  code=$(send "$url" "$(cat "$WORK/$r-genuine.sig")" "$WORK/$r-tampered.json")
  check "$r receiver: tampered (genuine header, quantity 1 → 100 in the body) → $code, $(last "$EV"), original recorded $(accepted "$EV" "$genuine_id")×" \
    expect "$code" "$EV" "4??" "rejected:bad signature" "$genuine_id" 1

  # (b) stale: a new event with the right HMAC, but t ten minutes old
  id=$(q "$WORK/$r-stale.json" 'ev[0]["id"]')
  code=$(send "$url" "$(sign "$WORK/$r.secret" $(($(date +%s) - 600)) "$WORK/$r-stale.json")" "$WORK/$r-stale.json")
  check "$r receiver: stale (right HMAC, t 10 minutes old) → $code, $(last "$EV"), recorded $(accepted "$EV" "$id")×" \
    expect "$code" "$EV" "4??" "rejected:stale" "$id" 0

  # (c) replay: each genuine delivery's exact bytes and header, again
  for id in $(q "$EV" '" ".join(e["id"] for e in acc)'); do
    q "$EV" '[e["body"] for e in acc if e["id"] == args[0]][0]' "$id" >"$WORK/$r-replay.json"
    code=$(send "$url" "$(q "$EV" '[e["signature"] for e in acc if e["id"] == args[0]][0]' "$id")" "$WORK/$r-replay.json")
    check "$r receiver: replay of delivery $id (same bytes, same header) → $code, $(last "$EV" | cut -d: -f1), recorded $(accepted "$EV" "$id")×" \
      expect "$code" "$EV" "2??" "duplicate:$id" "$id" 1
  done

  # (c') what the verifier's retry looks like: the same event signed again now
  code=$(send "$url" "$(sign "$WORK/$r.secret" "$(date +%s)" "$WORK/$r-genuine.json")" "$WORK/$r-genuine.json")
  check "$r receiver: redelivery of $genuine_id signed again now → $code, $(last "$EV" | cut -d: -f1), recorded $(accepted "$EV" "$genuine_id")×" \
    expect "$code" "$EV" "2??" "duplicate:$genuine_id" "$genuine_id" 1

  # (d) the handled ids outlive the process: they are read back from the events file
  stop "${PID_OF[$r]}"
  start_receiver "$r" "${PORT_OF[$r]}"
  code=$(send "$url" "$(sign "$WORK/$r.secret" "$(date +%s)" "$WORK/$r-genuine.json")" "$WORK/$r-genuine.json")
  check "$r receiver: restarted, then redelivery of $genuine_id → $code, $(last "$EV" | cut -d: -f1), recorded $(accepted "$EV" "$genuine_id")×" \
    expect "$code" "$EV" "2??" "duplicate:$genuine_id" "$genuine_id" 1
done

verifier_unchanged() {
  curl -fsS --cacert "$CA" "https://localhost:$VPORT/healthz" >/dev/null && outbox | cmp -s - "$WORK/outbox.jsonl"
}
check "verifier: still healthy, outbox unchanged by the direct sends" verifier_unchanged

echo
echo "$PASSED passed, $FAILED failed ($((SECONDS - START)) s after the build)"
[[ $FAILED -eq 0 ]] || exit 1
ok "webhooks: Python and Node receivers verified, deduplicated and refused as the book says"
