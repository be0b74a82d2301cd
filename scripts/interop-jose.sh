#!/usr/bin/env bash
# Verifies live verdict tokens with node's `jose` (a JOSE library PaySeal did not write), using only
# the JWKS the verifier publishes at GET /v1/keys. Runs the demo to get the tokens.
# Kept for its callers; scripts/interop.sh also runs the Python (PyJWT) checker on the same tokens.
set -euo pipefail
exec "$(dirname "$0")/interop.sh" jose
