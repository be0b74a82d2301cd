#!/usr/bin/env bash
# Checks the operator kit in deploy/ with what runs on this machine:
#   - deploy/payseal-verifier.service: `systemd-analyze verify` (syntax, directives, the
#     ExecStart binary) and `systemd-analyze security --offline` (exposure must stay "OK", <= 2.5);
#     a deliberately broken copy must fail the same check (so the check can fail);
#   - deploy/Dockerfile: a structural check (multi-stage, non-root USER, HEALTHCHECK on /healthz,
#     /etc/payseal and /var/lib/payseal volumes, exec-form ENTRYPOINT). There is no Docker engine
#     (and no hadolint) on this CI machine, so the image itself is NOT built here.
# Needs systemd-analyze (Debian: apt-get install systemd; .ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
need systemd-analyze "apt-get install systemd"
need cargo "install Rust with rustup: https://rustup.rs"

step "systemd unit: systemd-analyze verify and security (offline)"
cargo build --quiet -p payseal-verifier --bin payseal-verifier
BIN=$(target_dir)/debug/payseal-verifier
WORK=$(mktemp -d /tmp/payseal-deploy.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The binary built like the Dockerfile's (default features) has no development mode: it links
# no sandbox store (scripts/check-deps.sh) and `dev` refuses, saying how to get a build with it,
# without writing anything.
set +e
dev_out=$("$BIN" dev --listen 127.0.0.1:0 --state-dir "$WORK/dev-state" 2>&1)
dev_rc=$?
set -e
[[ $dev_rc -eq 2 ]] || fail "production build: 'payseal-verifier dev' exited $dev_rc (usage error 2 expected): $dev_out"
[[ $dev_out == *"--features dev"* ]] || fail "production build: 'payseal-verifier dev' does not say how to get development mode: $dev_out"
[[ ! -e $WORK/dev-state ]] || fail "production build: 'payseal-verifier dev' wrote its state folder"
echo "production build: 'payseal-verifier dev' refuses (exit 2): $dev_out"
# The unit names /usr/local/bin/payseal-verifier; verify checks that binary exists, so point a
# copy at the one just built (the only change).
sed "s|^ExecStart=/usr/local/bin/payseal-verifier |ExecStart=$BIN |" deploy/payseal-verifier.service \
  >"$WORK/payseal-verifier.service"
grep -q "^ExecStart=$BIN serve --config " "$WORK/payseal-verifier.service" || fail "ExecStart not found in the unit"
out=$(systemd-analyze verify "$WORK/payseal-verifier.service" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify warned: $out"
echo "systemd-analyze verify: clean"
for directive in DynamicUser=yes ProtectSystem=strict StateDirectory=payseal NoNewPrivileges=yes; do
  grep -qx "$directive" deploy/payseal-verifier.service || fail "the unit lacks $directive"
done
score=$(systemd-analyze security --offline=yes "$WORK/payseal-verifier.service" 2>&1 |
  sed -n 's/.*Overall exposure level for payseal-verifier.service: \([0-9.]*\).*/\1/p')
[[ -n $score ]] || fail "systemd-analyze security gave no exposure level"
python3 -c "import sys; sys.exit(0 if float('$score') <= 2.5 else 1)" ||
  fail "exposure level $score is above 2.5: the hardening regressed"
echo "systemd-analyze security: exposure $score (OK)"
# The check must be able to fail: a misspelt directive is reported.
mkdir -p "$WORK/broken"
sed 's/^ProtectSystem=strict/ProtectSystm=strict/' "$WORK/payseal-verifier.service" >"$WORK/broken/payseal-verifier.service"
broken=$(systemd-analyze verify "$WORK/broken/payseal-verifier.service" 2>&1 || true)
[[ $broken == *ProtectSystm* ]] || fail "systemd-analyze verify did not notice a misspelt directive: $broken"
echo "systemd-analyze verify notices a misspelt directive: yes"

step "Dockerfile: structure (no Docker engine here: the image is not built)"
python3 - deploy/Dockerfile <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# Join continuation lines, drop comments.
lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.strip().startswith("#")]
ins = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]
stages = [a for i, a in ins if i == "FROM"]
errors = []
if len(stages) < 2: errors.append("not multi-stage")
if not re.search(r"\bAS\s+build\b", stages[0], re.I): errors.append("first stage is not named build")
final = ins[max(n for n, (i, _) in enumerate(ins) if i == "FROM"):]
names = [i for i, _ in final]
def args(instr): return [a for i, a in final if i == instr]
if not any("--from=build" in a for a in args("COPY")): errors.append("final stage copies nothing from the build stage")
users = args("USER")
if not users or users[-1].split(":")[0] in ("root", "0"): errors.append("final stage runs as root")
hc = args("HEALTHCHECK")
if not hc or "/healthz" not in hc[-1]: errors.append("no HEALTHCHECK on /healthz")
vol = " ".join(args("VOLUME"))
for v in ("/etc/payseal", "/var/lib/payseal"):
    if v not in vol: errors.append(f"{v} is not a VOLUME")
ep = args("ENTRYPOINT")
if not ep or not ep[-1].startswith("["): errors.append("ENTRYPOINT is not exec-form")
if "cargo" in " ".join(a for i, a in final if i == "RUN"): errors.append("the runtime stage runs cargo")
if "EXPOSE" not in names: errors.append("no EXPOSE")
if errors: sys.exit("deploy/Dockerfile: " + "; ".join(errors))
print(f"Dockerfile: {len(stages)} stages, final {stages[-1]!r}, user {users[-1]}, healthcheck on /healthz, volumes {vol}")
PY
[[ -f deploy/Dockerfile.dockerignore ]] && grep -qx target deploy/Dockerfile.dockerignore ||
  fail "deploy/Dockerfile.dockerignore must keep target/ out of the build context"
# The binary the image runs answers the commands the Dockerfile and the unit use.
"$BIN" serve --help >/dev/null || fail "payseal-verifier serve --help failed"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  step "docker build (an engine is available)"
  docker build -f deploy/Dockerfile -t payseal-verifier:test .
else
  echo "no Docker engine on this machine: the image build is not run (structure checked above)"
fi
ok "deploy: systemd unit verified (exposure $score), Dockerfile structure checked"
