#!/usr/bin/env bash
# Runs every test of the project. Fails loudly when a tool is missing.
# Usage: scripts/test.sh            (everything)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

need cargo "install Rust with rustup: https://rustup.rs"
need python3 "apt-get install python3 python3-venv"
need node "apt-get install nodejs npm"
need npm "apt-get install npm"
need java "apt-get install default-jdk-headless"
need mvn "apt-get install maven"
[[ $(id -u) -eq 0 ]] || fail "the Swift tests run in a chroot and need root"
scripts/swift-env.sh status >/dev/null || fail "Swift chroot missing: run scripts/swift-env.sh setup (or .ci/run)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "dependency boundaries: payseal-rules does no I/O; the production verifier links no sandbox store (cargo tree)"
scripts/check-deps.sh
step "module imports: no module imports from a module that imports it back (scripts/check_module_cycles.py)"
python3 scripts/check_module_cycles.py

scripts/docs.sh   # the book (docs/) built with mdBook, its links and the documented recipes checked; installs mdBook once

# The fuzz smoke runs first: its sanitizer builds (fuzz/target, ~3 GB) can then be dropped before
# the workspace builds grow, which halves the peak disk use (PAYSEAL_PRUNE=1, set by .ci/run).
step "fuzz smoke: every cargo-fuzz target briefly, fails on any crash (full run: scripts/fuzz.sh, 60 s each)"
FUZZ_SECONDS="${FUZZ_SECONDS:-5}" scripts/fuzz.sh
if [[ ${PAYSEAL_PRUNE:-0} == 1 ]]; then rm -rf fuzz/target; echo "fuzz/target removed (PAYSEAL_PRUNE=1)"; fi

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --quiet --features payseal-verifier/postgres-tests -- -D warnings

step "cargo test (unit, integration, doc tests)"
cargo test --workspace --quiet 2>&1 | tee "$LOG_DIR/cargo-test.log"
summarize_cargo "$LOG_DIR/cargo-test.log"

step "PostgreSQL ledger: a real server from Debian's package on a free loopback port (scripts/postgres.sh)"
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop' EXIT
step "cargo test: ledger suite on PostgreSQL, migrations, two verifier processes on one database, outage (server and SDK), webhooks end to end, one store notification to two instances, every revocation source as a store event (store_events)"
cargo test -p payseal-verifier --features postgres-tests --quiet \
  --test ledger_suite --test postgres_ledger --test multi_instance --test postgres_outage --test postgres_outage_sdk \
  --test postgres_webhooks --test app_store_notifications --test postgres_google_voided --test postgres_google_play_acks --test postgres_google_play_lifecycle --test store_events \
  --test refund_answers --test postgres_app_store_lifecycle --test google_refund_answers \
  2>&1 | tee "$LOG_DIR/cargo-test-postgres.log"
summarize_cargo "$LOG_DIR/cargo-test-postgres.log"
step "cargo test: the ledger crate alone on PostgreSQL (generic suite, upgrade in place, round trips)"
cargo test -p payseal-ledger --features postgres-tests --quiet \
  2>&1 | tee "$LOG_DIR/cargo-test-ledger-postgres.log"
summarize_cargo "$LOG_DIR/cargo-test-ledger-postgres.log"
scripts/postgres.sh stop
trap - EXIT

step "demo end to end over HTTPS; its verdict tokens checked by node's jose, Python's PyJWT, Go's golang-jwt and nimbus-jose-jwt (third-party JOSE, only the published JWKS); webhook receivers in Python and Node"
scripts/interop.sh

scripts/test-deploy.sh   # systemd unit (systemd-analyze verify, security) and Dockerfile structure (OpenAPI and dashboards: cargo test ops_docs)
step "Kotlin (JUnit), Swift (XCTest) and Unity (C# on Mono, NUnit) SDK tests, against the real verifier; then each package on its default path (jar, Swift release package, Unity tarball), used from a project outside the repository"
scripts/test-bindings.sh

ok "all tests passed"
