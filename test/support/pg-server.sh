#!/usr/bin/env bash
# Throwaway PostgreSQL server for tests.
#
#   pg-server.sh start DIR   initialise (if needed) and start a cluster in DIR;
#                            prints exactly one line on stdout, the admin URL
#                            postgres://postgres@127.0.0.1:PORT/postgres
#   pg-server.sh stop DIR    stop it (fast shutdown); a no-op if not running
#
# Everything except that URL goes to stderr, so callers can capture stdout.
# The cluster is tuned for speed, not durability (fsync=off, ...): never point
# it at data you care about.
#
# Binaries: $PG_BINDIR if set, else pg_ctl/initdb found on PATH, else the
# highest /usr/lib/postgresql/*/bin.
set -euo pipefail

prog=$(basename "$0")

die() {
  echo "$prog: $*" >&2
  exit 1
}

usage() {
  echo "usage: $prog start|stop DIR" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
[[ $cmd == start || $cmd == stop ]] || usage
[[ -n $2 ]] || usage

find_bindir() {
  if [[ -n ${PG_BINDIR:-} ]]; then
    [[ -x $PG_BINDIR/pg_ctl && -x $PG_BINDIR/initdb ]] ||
      die "PG_BINDIR=$PG_BINDIR does not contain pg_ctl and initdb"
    echo "$PG_BINDIR"
    return
  fi
  local p
  if p=$(command -v pg_ctl) && command -v initdb >/dev/null; then
    # Resolve symlinks (e.g. /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin)
    # so that pg_ctl, initdb and postgres all come from the same installation.
    dirname "$(readlink -f "$p")"
    return
  fi
  p=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $p && -x $p/pg_ctl && -x $p/initdb ]]; then
    echo "$p"
    return
  fi
  die "no PostgreSQL server binaries (pg_ctl, initdb) found on PATH or in /usr/lib/postgresql/*/bin; install PostgreSQL: apt-get install postgresql"
}

# Postgres refuses to run as root; in that case run its tools as the
# 'postgres' OS user (created by Debian's postgresql packages).
# runuser lives in /usr/sbin, which a non-login root PATH may lack.
runuser_bin=$(command -v runuser || echo /usr/sbin/runuser)
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    "$runuser_bin" -u postgres -- "$@"
  else
    "$@"
  fi
}

# Port of the running server, from line 4 of postmaster.pid.
running_port() {
  sed -n 4p "$datadir/postmaster.pid" 2>/dev/null
}

is_running() {
  [[ -f $datadir/postmaster.pid ]] && as_pg "$bindir/pg_ctl" status -D "$datadir" >/dev/null 2>&1
}

# A port in the dynamic range that nothing on 127.0.0.1 accepts connections
# on right now. This can still race with another process; start() retries on
# a bind failure.
pick_port() {
  local port i
  for ((i = 0; i < 50; i++)); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "could not find a free TCP port on 127.0.0.1"
}

if [[ $cmd == stop && ! -d $2 ]]; then
  exit 0 # nothing there, nothing to stop
fi
mkdir -p "$2"
dir=$(cd "$2" && pwd -P)
datadir=$dir/data
logfile=$dir/postgres.log

if [[ $cmd == stop ]]; then
  # Idempotent: nothing initialised, or nothing running, is success.
  [[ -f $datadir/PG_VERSION ]] || exit 0
  bindir=$(find_bindir)
  if is_running; then
    as_pg "$bindir/pg_ctl" stop -s -D "$datadir" -m fast -w -t 60 >&2
  fi
  exit 0
fi

# ---- start ----
bindir=$(find_bindir)

if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 ||
    die "running as root but there is no 'postgres' OS user to run the server as (apt-get install postgresql creates it)"
  chown postgres: "$dir"
  # The postgres user must be able to reach DIR (e.g. not inside a root-only
  # mktemp directory).
  [[ -x $runuser_bin ]] || die "runuser (util-linux) not found; needed to run PostgreSQL as 'postgres' when root"
  as_pg test -w "$dir" ||
    die "user 'postgres' cannot write to $dir (is a parent directory private to root?)"
fi

# The unix socket lives in DIR too, so nothing outside DIR is touched; its
# path must fit in sun_path (107 bytes incl. "/.s.PGSQL.NNNNN").
((${#dir} <= 90)) || die "directory path too long for a unix socket: $dir"

if is_running; then
  echo "$prog: server in $dir already running" >&2
  echo "postgres://postgres@127.0.0.1:$(running_port)/postgres"
  exit 0
fi

if [[ ! -f $datadir/PG_VERSION ]]; then
  echo "$prog: initdb in $datadir ($bindir)" >&2
  # initdb is chatty; keep its output for failures only.
  if ! as_pg "$bindir/initdb" -D "$datadir" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  fi
  cat >>"$datadir/postgresql.conf" <<EOF

# --- throwaway test server (test/support/pg-server.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

for attempt in 1 2 3 4 5; do
  port=$(pick_port)
  # Only the log lines written by this attempt matter for the bind check.
  loglines=$( (wc -l <"$logfile") 2>/dev/null || echo 0)
  echo "$prog: starting PostgreSQL on 127.0.0.1:$port (log: $logfile)" >&2
  # -w waits until the server accepts connections.
  if as_pg "$bindir/pg_ctl" start -D "$datadir" -l "$logfile" -o "-p $port" -w -t 60 >&2; then
    # pg_ctl may have checked readiness over the unix socket; make sure the
    # server answers on TCP too, which is what the tests use.
    if [[ -x $bindir/pg_isready ]]; then
      for ((i = 0; ; i++)); do
        "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
        ((i < 100)) || die "server started but does not answer on 127.0.0.1:$port"
        sleep 0.1
      done
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    exit 0
  fi
  if ((attempt < 5)) && tail -n "+$((loglines + 1))" "$logfile" 2>/dev/null |
    grep -q "could not bind\|Address already in use"; then
    echo "$prog: port $port was taken, retrying" >&2
    as_pg "$bindir/pg_ctl" stop -D "$datadir" -m immediate >/dev/null 2>&1 || true
    continue
  fi
  echo "$prog: PostgreSQL failed to start; last lines of $logfile:" >&2
  tail -n 30 "$logfile" >&2 2>/dev/null || true
  exit 1
done
