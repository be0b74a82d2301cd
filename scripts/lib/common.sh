# Shared helpers for scripts/*.sh. Source it; do not run it.
# shellcheck shell=bash
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOG_DIR="${PAYSEAL_LOG_DIR:-$REPO_ROOT/target/test-logs}"
mkdir -p "$LOG_DIR"

# Each step also prints the free disk space: builds are large and a CI machine's disk is not.
step() {
  printf '\n\033[1m==> %s\033[0m\n' "$*"
  printf '    (disk: %s free)\n' "$(df -h --output=avail "$REPO_ROOT" 2>/dev/null | tail -1 | tr -d ' ')"
}
ok() { printf '\033[32mOK\033[0m %s\n' "$*"; }
fail() { printf '\033[31mFAILED\033[0m %s\n' "$*" >&2; exit 1; }

# need TOOL HOW-TO-INSTALL: fail loudly when a tool is missing.
need() {
  command -v "$1" >/dev/null 2>&1 || fail "'$1' is missing: $2 (or run .ci/run, which installs everything)"
}

# summarize_cargo LOG: print the totals of every `test result:` line of a cargo test log.
summarize_cargo() {
  awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "cargo tests: %d passed, %d failed, %d ignored\n", p, f, i; if (f > 0) exit 1 }' "$1"
}

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_https URL CACERT [SECONDS]: wait until GET URL answers 200.
wait_for_https() {
  local url=$1 cacert=$2 secs=${3:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    curl -fsS --cacert "$cacert" "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "$url did not come up within ${secs}s"
}

# target_dir: cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config), from `cargo metadata`.
target_dir() {
  cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks (all threads).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# dev_state BIN STATE PORT: a development state in STATE (keys, TLS files, profile.json,
# verifier.toml, sandbox store) made by BIN/payseal-verifier dev on 127.0.0.1:PORT, which is
# stopped again once it answers; the benchmarks then serve STATE/verifier.toml themselves.
dev_state() {
  local bin=$1 state=$2 port=$3 dev
  "$bin/payseal-verifier" dev --listen "127.0.0.1:$port" --state-dir "$state" >"$state/dev.log" 2>&1 &
  dev=$!
  for _ in $(seq 1 600); do [[ -f $state/profile.json ]] && break; sleep 0.1; done
  wait_for_https "https://localhost:$port/healthz" "$state/tls/cert.pem" 60
  kill -TERM $dev; wait $dev || true
}
