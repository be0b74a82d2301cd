#!/usr/bin/env bash
# Verifies live verdict tokens with JOSE libraries PaySeal did not write, using only the JWKS the
# verifier publishes at GET /v1/keys: node's `jose` (npm) and Python's PyJWT + cryptography (PyPI),
# the verdicts and the signed entitlements documents an app server fetches;
# with `all`, also Go's golang-jwt + keyfunc and nimbus-jose-jwt on the JVM (scripts/interop-go-java.sh)
# and the Python and Node webhook receivers against a real verifier (scripts/interop-webhooks.sh).
# Runs the demo once to get the tokens, verifies the demo's Play purchase again (fresh jtis,
# redemption: repeat) and a second purchase (scripts/lib/interop-demo.sh), then each checker on the
# same files: each also runs the book's grant recipe on them (docs/src/delivery.md: a purchase is
# delivered once, whichever of its tokens comes first; another purchase is delivered). That the
# book shows exactly this code is checked by scripts/docs.sh (tests/interop/readme_recipes.py).
# Usage: scripts/interop.sh [all|jose|python]     (default: all)
# Installs the libraries itself: npm ci in tests/interop/jose, a venv in target/interop-python-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/interop-demo.sh
WHICH=${1:-all}
case $WHICH in all | jose | python) ;; *) fail "usage: scripts/interop.sh [all|jose|python]" ;; esac

if [[ $WHICH != python ]]; then
  need node "apt-get install nodejs"
  need npm "apt-get install npm"
  (cd tests/interop/jose && npm ci --no-audit --no-fund --silent)
fi
if [[ $WHICH != jose ]]; then
  need python3 "apt-get install python3 python3-venv"
  VENV=target/interop-python-venv
  if [[ ! -x $VENV/bin/python ]]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null ||
      fail "python3 cannot make a venv with pip: apt-get install python3-venv"
    python3 -m venv "$VENV" || { rm -rf "$VENV"; fail "python3 -m venv failed: apt-get install python3-venv"; }
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/interop/python/requirements.txt ||
    fail "pip could not install tests/interop/python/requirements.txt from PyPI (network?)"
fi

# Go and Kotlin/JVM checkers (scripts/interop-go-java.sh): their modules and Maven dependencies now, before the demo.
[[ $WHICH != all ]] || scripts/interop-go-java.sh prefetch

OUT=$(mktemp -d /tmp/payseal-interop.XXXXXX)
trap demo_stop EXIT
interop_demo "$OUT"
ISSUER=$(cat "$OUT/issuer.txt")
TOKENS=("$OUT"/token-*.jwt)
[[ -f ${TOKENS[0]} ]] || fail "the demo left no tokens in $OUT"

if [[ $WHICH != python ]]; then
  step "node jose: ${#TOKENS[@]} demo tokens, only the published JWKS; the book's grant"
  node tests/interop/jose/verify.mjs "$OUT/keys.json" "$ISSUER" "$DEMO_APP" "${TOKENS[@]}"
  step "node jose: the signed entitlements documents (typ payseal-entitlements+jwt, nonce, claims), only the published JWKS"
  node tests/interop/jose/entitlements.mjs "$OUT/keys.json" "$ISSUER" "$DEMO_APP" "$OUT" "$OUT/token-1.jwt"
fi
if [[ $WHICH != jose ]]; then
  step "Python PyJWT + cryptography: ${#TOKENS[@]} demo tokens, only the published JWKS; the book's grant"
  "$VENV/bin/python" tests/interop/python/verify.py "$OUT/keys.json" "$ISSUER" "$DEMO_APP" "${TOKENS[@]}"
  step "Python PyJWT: the signed entitlements documents (typ payseal-entitlements+jwt, nonce, claims), only the published JWKS"
  "$VENV/bin/python" tests/interop/python/entitlements.py "$OUT/keys.json" "$ISSUER" "$DEMO_APP" "$OUT" "$OUT/token-1.jwt"
fi
# Go (golang-jwt + keyfunc) and Kotlin/JVM (nimbus-jose-jwt): the same tokens, the JWKS from the demo's verifier started again on its state.
[[ $WHICH != all ]] || scripts/interop-go-java.sh "$OUT"
# Signed webhooks: the book's Python and Node receivers (docs/src/webhooks.md) against a real verifier (standard libraries only).
[[ $WHICH != all ]] || scripts/interop-webhooks.sh
