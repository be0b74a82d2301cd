#!/usr/bin/env bash
# Verifies live verdict tokens with node's `jose` (a JOSE library PaySeal did not write), using only
# the JWKS the verifier publishes at GET /v1/keys. Runs the demo to get the tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need node "apt-get install nodejs"
need npm "apt-get install npm"
(cd tests/interop/jose && npm ci --no-audit --no-fund --silent)
OUT=$(mktemp -d /tmp/payseal-jose.XXXXXX)
PAYSEAL_DEMO_OUT=$OUT scripts/demo.sh 2>&1 | tee "$OUT/demo.log"
node tests/interop/jose/verify.mjs "$OUT/keys.json" "$(cat "$OUT/issuer.txt")" "$OUT"/token-*.jwt
