#!/usr/bin/env bash
# The book's Go and Kotlin/Java token checks (docs/src/delivery.md, "Delivering to your server"), tested on live verdict
# tokens with libraries PaySeal did not write: Go's golang-jwt/jwt/v5 + MicahParks/keyfunc/v3
# (tests/interop/go) and nimbus-jose-jwt + Tink on the JVM (tests/interop/java, Kotlin, Maven).
# Both fetch the JWKS from the live verifier's GET /v1/keys over HTTPS, trusting its self-signed dev
# certificate explicitly, and run the cases of tests/interop/python/verify.py (genuine verifies;
# altered payload, HS256, none, unknown kid, typ JWT, another issuer refused) plus the book's
# grant rules (paid only, the app, each jti once, each purchase delivered once: re-verified tokens
# of one purchase, also granted concurrently, deliver it once; another purchase is delivered).
# Each prints `N passed, N failed`.
#
# Usage: scripts/interop-go-java.sh DEMO_OUT   the tokens of a demo run with PAYSEAL_DEMO_OUT=DEMO_OUT
#                                              and PAYSEAL_DEMO_DIR=DEMO_OUT/state (scripts/interop.sh
#                                              runs it so and calls this): the verifier is started
#                                              again on that state (same keys, certificate, issuer)
#        scripts/interop-go-java.sh            the same after running the demo itself
#        scripts/interop-go-java.sh prefetch   Go modules and Maven plugins/dependencies only (CI warm-up)
# Needs go (1.25+), java (17+) and mvn; fetches from the Go module proxy and Maven Central.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/interop-demo.sh
GO_DIR=tests/interop/go
JVM_DIR=tests/interop/java
APP=$DEMO_APP
MVN=(mvn -q -B -Dstyle.color=never -f "$JVM_DIR/pom.xml")

# Go is often installed in /usr/local/go without being on PATH.
command -v go >/dev/null 2>&1 || [[ ! -x /usr/local/go/bin/go ]] || PATH=$PATH:/usr/local/go/bin
need go "Go 1.25 or newer (Debian 12's golang-go is too old): unpack Go into /usr/local/go, or put it on PATH"
need java "apt-get install default-jdk-headless"
need mvn "apt-get install maven"
go_version=$(go env GOVERSION) # go1.26.8
IFS=. read -r go_major go_minor _ <<<"${go_version#go}"
((go_major > 1 || go_minor >= 21)) ||
  fail "$go_version is too old for $GO_DIR (go.mod wants 1.25; Go 1.21+ fetches that toolchain from the module proxy by itself): install Go 1.25 or newer"
java_major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
[[ ${java_major%%.*} -ge 17 ]] 2>/dev/null || fail "Java 17+ is needed for $JVM_DIR, found ${java_major:-none}: apt-get install default-jdk-headless"

# strip_ansi: Debian's Maven 3.8 writes colour resets even with -B -Dstyle.color=never.
strip_ansi() { sed -u 's/\x1b\[[0-9;]*m//g'; }

prefetch() {
  local t=$SECONDS
  (cd "$GO_DIR" && go mod download && go build -o target/payseal-interop-go .) ||
    fail "go could not fetch or build $GO_DIR (Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
  "${MVN[@]}" compile exec:java -Dexec.args=--versions 2>&1 | strip_ansi ||
    fail "Maven could not fetch or compile $JVM_DIR (Maven Central reachable?)"
  echo "Go modules and Maven dependencies ready, both programs built ($((SECONDS - t)) s)"
}

if [[ ${1:-} == prefetch ]]; then
  step "prefetch: Go modules ($GO_DIR) and Maven plugins and dependencies ($JVM_DIR)"
  prefetch
  exit 0
fi

OUT=${1:-}
if [[ -z $OUT ]]; then
  prefetch # before the demo: its tokens live 10 minutes
  OUT=$(mktemp -d /tmp/payseal-interop.XXXXXX)
  trap demo_stop EXIT
  interop_demo "$OUT"
fi
STATE=$OUT/state
CA=$STATE/tls/cert.pem
[[ -f $STATE/verifier.toml && -f $CA ]] ||
  fail "no verifier state in $STATE: run the demo with PAYSEAL_DEMO_DIR=$STATE PAYSEAL_DEMO_OUT=$OUT (as scripts/interop.sh does)"
[[ -f $OUT/issuer.txt ]] || fail "no issuer.txt in $OUT: not a demo's output"
ISSUER=$(cat "$OUT/issuer.txt")
TOKENS=("$OUT"/token-*.jwt)
[[ -f ${TOKENS[0]} ]] || fail "the demo left no tokens in $OUT"
BIN=target/debug/payseal-verifier
[[ -x $BIN ]] || fail "$BIN is missing: scripts/demo.sh builds it"

# ---- the live verifier: the demo's, started again on its state ---------------------------------
# The same keys, certificate and configuration; on the demo's port (the tokens' issuer) unless
# that port has been taken since, then on a free one.
trap demo_stop EXIT
PORT=${ISSUER##*:}
[[ $PORT =~ ^[0-9]+$ ]] || PORT=$(free_port)
step "live verifier: payseal-verifier serve --config $STATE/verifier.toml (the demo's state) on 127.0.0.1:$PORT"
if ! demo_serve "$OUT" "$PORT"; then
  echo "port $PORT is taken since the demo; another one"
  PORT=$(free_port)
  demo_serve "$OUT" "$PORT" || { cat "$OUT/verifier-restarted.log"; fail "the verifier did not start"; }
fi
JWKS_URL=https://localhost:$PORT/v1/keys
curl -fsS --cacert "$CA" "$JWKS_URL" | cmp -s - "$OUT/keys.json" ||
  fail "$JWKS_URL is not the JWKS the demo's verifier published ($OUT/keys.json)"
echo "$JWKS_URL serves the demo's JWKS; issuer $ISSUER; ${#TOKENS[@]} tokens"

STATUS=0
step "Go: golang-jwt/jwt/v5 + MicahParks/keyfunc/v3 ($GO_DIR), the JWKS from $JWKS_URL"
t=$SECONDS
(cd "$GO_DIR" && go build -o target/payseal-interop-go .)
"$GO_DIR/target/payseal-interop-go" "$JWKS_URL" "$CA" "$ISSUER" "$APP" "${TOKENS[@]}" || STATUS=1
echo "(Go: $((SECONDS - t)) s with the build)"

step "Kotlin/JVM: nimbus-jose-jwt + Tink ($JVM_DIR, mvn compile exec:java), the JWKS from $JWKS_URL"
t=$SECONDS
"${MVN[@]}" compile exec:java -Dexec.args="$JWKS_URL $CA $ISSUER $APP ${TOKENS[*]}" 2>&1 | strip_ansi || STATUS=1
echo "(Kotlin/JVM: $((SECONDS - t)) s with Maven and the build)"

demo_stop
[[ $STATUS -eq 0 ]] || fail "Go or Kotlin/JVM token checks failed (verifier log: $OUT/verifier-restarted.log)"
ok "Go (golang-jwt + keyfunc) and Kotlin/JVM (nimbus-jose-jwt + Tink): the book's token checks on live tokens and the live JWKS"
