#!/usr/bin/env bash
# Dependency boundaries that the crate layout promises, checked on `cargo tree` (no build):
#   1. payseal-rules is pure: no tokio, HTTP or database crate among its normal dependencies;
#   2. the production verifier (`payseal-verifier` without the `dev` feature) links no store that
#      mints receipts: payseal-sandbox is not among its normal dependencies.
# Each check first proves that it can fail: the same detector must find tokio in the verifier's
# tree and payseal-sandbox in the `--features dev` tree (a changed `cargo tree` output format
# would otherwise pass everything).
#
#   scripts/check-deps.sh        (run by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need cargo "install Rust with rustup: https://rustup.rs"

# Crates that do I/O: async runtimes, HTTP clients and servers, database drivers and pools.
IO_CRATES='tokio|tokio-util|mio|hyper|hyper-util|h2|reqwest|ureq|axum|axum-server|tower-http|rusqlite|libsqlite3-sys|tokio-postgres|postgres|deadpool-postgres|sqlx'

# deps PKG [CARGO-TREE-ARGS...]: the package names of PKG's normal dependency tree, one a line.
deps() {
  local pkg=$1
  shift
  cargo tree --quiet --offline -p "$pkg" -e normal --prefix none --format '{p}' "$@" |
    awk '{ print $1 }' | sort -u
}

# matching PATTERN: the lines of stdin that are exactly one of the names in PATTERN.
matching() { grep -E "^($1)\$" || true; }

# The detectors fire on trees that do have these crates.
[[ -n $(deps payseal-verifier | matching "$IO_CRATES") ]] ||
  fail "check-deps.sh: the I/O detector found no tokio in payseal-verifier's tree: is 'cargo tree' output still '{p}' per line?"
[[ -n $(deps payseal-verifier --features dev | matching payseal-sandbox) ]] ||
  fail "check-deps.sh: payseal-sandbox is not in 'payseal-verifier --features dev': the sandbox check below would prove nothing"

io=$(deps payseal-rules | matching "$IO_CRATES")
[[ -z $io ]] || fail "payseal-rules must do no I/O, but its dependencies include: $(echo $io) (cargo tree -p payseal-rules -e normal -i <crate> shows why)"
ok "payseal-rules: no tokio, HTTP or database crate ($(deps payseal-rules | wc -l) crates in its tree)"

sandbox=$(deps payseal-verifier | matching payseal-sandbox)
[[ -z $sandbox ]] || fail "the production payseal-verifier links payseal-sandbox (a store that mints receipts); only --features dev may (cargo tree -p payseal-verifier -e normal -i payseal-sandbox)"
ok "payseal-verifier (default features): no payseal-sandbox"
