#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for a bounded time each; fail on any crash.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # SECONDS per target: $1, else $FUZZ_SECONDS, else 60
#   FUZZ_SECONDS=10 scripts/fuzz.sh           # smoke run (scripts/test.sh)
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer); no nightly is installed here, so
# the stable toolchain is used with RUSTC_BOOTSTRAP=1, set through a RUSTC_WRAPPER (cargo does
# not pass RUSTC_BOOTSTRAP from the environment to every rustc it runs). Sanitizer: address
# (FUZZ_SANITIZER=none to skip it). Builds are release with debug assertions and overflow checks.
#
# Seeds: fuzz/corpus/<target>/seed-* (committed, written by `cd fuzz && cargo run --example
# seeds` from the fixture keys in fuzz/fixtures/). New inputs go to fuzz/work/<target>/
# (ignored by git), crashes to fuzz/artifacts/<target>/. Every crash must become a regression
# test in the crate that owns the code.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-${FUZZ_SECONDS:-60}}
[[ $# -gt 0 ]] && shift
case $SECS in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$SECS'" >&2; exit 2 ;; esac
SANITIZER=${FUZZ_SANITIZER:-address}

die() {
    echo "fuzz.sh: FAILED: $*" >&2
    exit 1
}

# Tools: cargo-fuzz (installed from crates.io when missing) and a C++ compiler (libFuzzer).
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not found; installing it with 'cargo install cargo-fuzz --locked'"
    cargo install cargo-fuzz --locked ||
        die "cannot install cargo-fuzz (needs network access to crates.io); install it by hand: cargo install cargo-fuzz"
fi
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
    die "no C++ compiler (libFuzzer is C++): apt-get install -y g++"
fi

# RUSTC_BOOTSTRAP through a wrapper, keeping any wrapper already configured (e.g. sccache).
WRAP_DIR=$(mktemp -d)
trap 'rm -rf "$WRAP_DIR"' EXIT
cat >"$WRAP_DIR/rustc-bootstrap" <<'EOF'
#!/bin/sh
export RUSTC_BOOTSTRAP=1
if [ -n "${FUZZ_PREVIOUS_RUSTC_WRAPPER:-}" ]; then exec "$FUZZ_PREVIOUS_RUSTC_WRAPPER" "$@"; fi
exec "$@"
EOF
chmod +x "$WRAP_DIR/rustc-bootstrap"
export FUZZ_PREVIOUS_RUSTC_WRAPPER=${RUSTC_WRAPPER:-}
export RUSTC_WRAPPER=$WRAP_DIR/rustc-bootstrap
export RUSTC_BOOTSTRAP=1

cd "$ROOT/fuzz"
FLAGS=(-O -a --sanitizer "$SANITIZER")
if [[ $# -gt 0 ]]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo fuzz list)
fi
[[ ${#TARGETS[@]} -gt 0 ]] || die "no fuzz targets found (cargo fuzz list)"

echo "fuzz.sh: building ${#TARGETS[@]} targets (sanitizer $SANITIZER)"
build_start=$(date +%s)
cargo fuzz build "${FLAGS[@]}" || die "cargo fuzz build (see the errors above)"
echo "fuzz.sh: build took $(($(date +%s) - build_start)) s"

passed=0
failed=0
summary=()
for t in "${TARGETS[@]}"; do
    [[ -d corpus/$t ]] || die "$t: no seed corpus fuzz/corpus/$t (cd fuzz && cargo run --example seeds)"
    mkdir -p "work/$t" "artifacts/$t"
    log="work/$t.log"
    marker="work/$t.start"
    touch "$marker"
    echo "fuzz.sh: $t for ${SECS}s"
    set +e
    # New inputs go to work/<t> (first directory); the committed seeds are only read.
    cargo fuzz run "${FLAGS[@]}" "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_runs: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    if [[ -z $execs ]]; then
        execs=$(grep -oE '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | grep -oE '[0-9]+' || true)
    fi
    crashes=$(find "artifacts/$t" -type f -newer "$marker" \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    if [[ $rc -eq 0 && $crashes -eq 0 && -n $execs ]]; then
        passed=$((passed + 1))
        line="PASS  $t: ${execs} executions, 0 crashes"
    else
        failed=$((failed + 1))
        line="FAIL  $t: exit $rc, ${execs:-?} executions, $crashes crash files in fuzz/artifacts/$t/ (log fuzz/$log)"
        grep -E 'panicked|ERROR: |SUMMARY: |Test unit written' "$log" | head -20 | sed 's/^/    /' >&2 || true
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "fuzz.sh: ${SECS}s per target"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
