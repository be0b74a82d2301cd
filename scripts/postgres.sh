#!/usr/bin/env bash
# A throwaway PostgreSQL server for the ledger tests and benchmarks: Debian's `postgresql`
# package (installed with apt-get when missing and running as root), a temporary data directory,
# a free port on 127.0.0.1 only, trust authentication for loopback and the private socket only,
# and one database `payseal_test`. Nothing else on the machine is touched.
#
#   eval "$(scripts/postgres.sh start)"   # start; exports the variables below into this shell
#   scripts/postgres.sh env [DIR]          # print them again (DIR defaults to $PAYSEAL_TEST_POSTGRES_DIR)
#   scripts/postgres.sh stop [DIR]         # stop the server and delete DIR
#
# Exported by start/env:
#   PAYSEAL_TEST_POSTGRES_URL   postgres://payseal@127.0.0.1:PORT/payseal_test (superuser, no password)
#   PAYSEAL_TEST_POSTGRES_DATA  the data directory
#   PAYSEAL_TEST_PG_CTL         a pg_ctl for that data directory (`$PAYSEAL_TEST_PG_CTL stop|start`),
#                               run as the server's user; the outage test stops and restarts with it
#   PAYSEAL_TEST_POSTGRES_DIR   the folder holding all of it (data, socket, log, env)
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

say() { printf '%s\n' "$*" >&2; }

# The newest Debian PostgreSQL server binaries. /usr/local/bin/pg_ctl, where present, is a
# symlink into the same folder; we do not rely on PATH.
pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then printf '%s\n' "$d"; fi
}

ensure_installed() {
  [[ -n $(pg_bin) ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    fail "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: sudo apt-get install postgresql"
  fi
  say "installing Debian's postgresql package"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  [[ -n $(pg_bin) ]] || fail "apt-get installed postgresql but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
}

# The user the server runs as: ourselves, or (as root, which initdb refuses) the package's
# `postgres` user, else a dedicated system user.
server_user() {
  if [[ $(id -u) -ne 0 ]]; then id -un; return; fi
  if id -u postgres >/dev/null 2>&1; then echo postgres; return; fi
  id -u payseal-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin payseal-pg
  echo payseal-pg
}

cmd_start() {
  ensure_installed
  local bin user dir data port log
  bin=$(pg_bin)
  user=$(server_user)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/payseal-pg.XXXXXX")
  data=$dir/data
  log=$dir/postgres.log
  [[ $(id -u) -eq 0 ]] && chown "$user" "$dir"
  chmod 700 "$dir"

  local run=()
  [[ $(id -u) -eq 0 ]] && run=(runuser -u "$user" --)

  say "initdb ($bin) in $data as $user"
  (cd "$dir" && "${run[@]}" "$bin/initdb" -D "$data" -U payseal --auth=trust --encoding=UTF8 \
      --locale=C --no-instructions >"$dir/initdb.log" 2>&1) \
    || { cat "$dir/initdb.log" >&2; fail "initdb failed"; }

  port=$(free_port)
  # Loopback TCP and a private socket folder only; trust only there.
  cat >>"$data/postgresql.conf" <<EOF

# scripts/postgres.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
EOF
  cat >"$data/pg_hba.conf" <<EOF
# scripts/postgres.sh: trust on the private socket folder and 127.0.0.1 only.
local all all trust
host  all all 127.0.0.1/32 trust
EOF
  [[ $(id -u) -eq 0 ]] && chown "$user" "$data/pg_hba.conf"

  # pg_ctl for this data directory, run as the server's user (the tests call it).
  {
    echo '#!/bin/sh'
    echo "# pg_ctl for the PaySeal test PostgreSQL in $dir (made by scripts/postgres.sh)"
    echo "cd '$dir' || exit 1"
    printf 'exec %s %q -D %q -l %q -w -t 60 "$@"\n' "${run[*]}" "$bin/pg_ctl" "$data" "$log"
  } >"$dir/pg_ctl"
  chmod 755 "$dir/pg_ctl"

  say "starting PostgreSQL on 127.0.0.1:$port"
  "$dir/pg_ctl" start >"$dir/pg_ctl.log" 2>&1 \
    || { cat "$dir/pg_ctl.log" "$log" >&2 2>/dev/null; fail "PostgreSQL did not start"; }
  (cd "$dir" && "$bin/createdb" -h 127.0.0.1 -p "$port" -U payseal payseal_test) >&2 \
    || { "$dir/pg_ctl" stop -m immediate >/dev/null 2>&1 || true; fail "createdb failed"; }

  cat >"$dir/env" <<EOF
export PAYSEAL_TEST_POSTGRES_URL=postgres://payseal@127.0.0.1:$port/payseal_test
export PAYSEAL_TEST_POSTGRES_DATA=$data
export PAYSEAL_TEST_PG_CTL=$dir/pg_ctl
export PAYSEAL_TEST_POSTGRES_DIR=$dir
EOF
  say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ready: postgres://payseal@127.0.0.1:$port/payseal_test (stop with: scripts/postgres.sh stop $dir)"
  cat "$dir/env"
}

instance_dir() {
  local dir=${1:-${PAYSEAL_TEST_POSTGRES_DIR:-}}
  [[ -n $dir ]] || fail "which instance? pass its folder or set PAYSEAL_TEST_POSTGRES_DIR (eval \"\$(scripts/postgres.sh start)\" sets it)"
  # Only ever delete a folder this script made.
  [[ $(basename "$dir") == payseal-pg.* && -f $dir/env && -x $dir/pg_ctl ]] \
    || fail "$dir is not a folder made by scripts/postgres.sh start"
  printf '%s\n' "$dir"
}

cmd_env() {
  local dir
  dir=$(instance_dir "${1:-}")
  cat "$dir/env"
}

cmd_stop() {
  local dir
  dir=$(instance_dir "${1:-}")
  "$dir/pg_ctl" stop -m fast >/dev/null 2>&1 || say "(PostgreSQL in $dir was not running)"
  rm -rf -- "$dir"
  say "PostgreSQL stopped, $dir removed"
}

case ${1:-} in
  start) cmd_start ;;
  env) cmd_env "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  *)
    say "usage: eval \"\$(scripts/postgres.sh start)\" | scripts/postgres.sh env [DIR] | scripts/postgres.sh stop [DIR]"
    exit 2
    ;;
esac
