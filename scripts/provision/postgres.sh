# Sourced by scripts/test. Provides a throw-away PostgreSQL server for the
# tests and exports TETHERTEST_POSTGRES_URL (a role that may create
# databases and schemas).
#
# - TETHERTEST_POSTGRES_URL already set: use that server, start nothing.
# - Otherwise find the server binaries (/usr/lib/postgresql/*/bin), install
#   Debian's postgresql package with apt-get when they are missing (without
#   starting the package's own cluster), create a cluster in a temp folder
#   under $TETHERTEST_WORK owned by an unprivileged user (root cannot run
#   postgres), and start it on a free port of 127.0.0.1 with its socket in
#   that folder and fsync off. The cluster is stopped when scripts/test
#   exits and its folder goes with $TETHERTEST_WORK.
#
# Each run has its own folder and its own port (a taken port makes the
# server fail to start, and another one is tried), so two checkouts can
# run their tests at once.

_pg_provision() {
  local bin user data sock port i url
  local as=()

  bin=$(_pg_bindir)
  if [[ -z "$bin" ]]; then
    _pg_install || return 1
    bin=$(_pg_bindir)
    [[ -n "$bin" ]] || { log "postgres: no server binaries after installing postgresql"; return 1; }
  fi

  # postgres refuses to run as root: run it as an unprivileged user.
  if [[ $(id -u) -eq 0 ]]; then
    user=postgres
    id -u "$user" >/dev/null 2>&1 || user=nobody
    as=(runuser -u "$user" --)
    # The user must be able to reach its folder inside $TETHERTEST_WORK.
    chmod o+x "$TETHERTEST_WORK" || return 1
  fi

  data=$(mktemp -d "$TETHERTEST_WORK/postgres.XXXXXX") || return 1
  sock="$data/run"
  mkdir -p "$sock" || return 1
  if [[ -n "$user" ]]; then chown -R "$user": "$data" || return 1; fi
  if ! "${as[@]}" test -w "$data"; then
    log "postgres: $user cannot write to $data (is a parent folder private?)"
    return 1
  fi

  if ! "${as[@]}" "$bin/initdb" -D "$data/db" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C --no-sync >"$data/initdb.log" 2>&1; then
    log "postgres: initdb failed:"; tail -n 20 "$data/initdb.log" >&2
    return 1
  fi
  cat >>"$data/db/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 64MB
log_min_messages = warning
EOF

  for i in 1 2 3 4 5 6 7 8; do
    port=$(_pg_free_port)
    if "${as[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
      break
    fi
    port=""
    # Most likely another run took the port between the check and the start.
    log "postgres: start on port failed, retrying"; tail -n 3 "$data/server.log" >&2
  done
  if [[ -z "$port" ]]; then
    log "postgres: could not start the server:"; tail -n 20 "$data/server.log" >&2
    return 1
  fi
  # ${as[*]} is empty or safe words; $data is our mktemp path without spaces.
  cleanup "${as[*]} '$bin/pg_ctl' -D '$data/db' -m immediate -w stop >/dev/null 2>&1"

  if ! "${as[@]}" "$bin/psql" -h "$sock" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 >/dev/null 2>"$data/psql.log" <<'EOF'
CREATE ROLE tether LOGIN CREATEDB PASSWORD 'tether';
CREATE DATABASE tether OWNER tether;
EOF
  then
    log "postgres: creating the test role failed:"; cat "$data/psql.log" >&2
    return 1
  fi

  url="postgres://tether:tether@127.0.0.1:$port/tether?sslmode=disable"
  export TETHERTEST_POSTGRES_URL="$url"
  log "postgres: $("$bin/postgres" --version | head -n1) on 127.0.0.1:$port (data in $data)"
}

# _pg_bindir prints the bin folder of the newest installed server.
_pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && echo "$d"
  return 0
}

# _pg_install installs the server from the distribution, non-interactively.
# policy-rc.d keeps the package from starting its default cluster.
_pg_install() {
  local sudo=() policy=/usr/sbin/policy-rc.d made_policy=""
  if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      log "postgres: server binaries missing and not root (install postgresql)"; return 1
    fi
  fi
  command -v apt-get >/dev/null || { log "postgres: server binaries missing and no apt-get"; return 1; }
  log "postgres: installing postgresql with apt-get"
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod +x "$policy" && made_policy=1
  fi
  local ok=""
  for attempt in install update-then-install; do
    if [[ $attempt == update-then-install ]]; then
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || break
    fi
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2; then
      ok=1; break
    fi
  done
  [[ -n $made_policy ]] && "${sudo[@]}" rm -f "$policy"
  [[ -n $ok ]] || { log "postgres: apt-get install postgresql failed"; return 1; }
}

# _pg_free_port prints a random port of 127.0.0.1 that nothing listens on
# right now.
_pg_free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

if [[ -n "${TETHERTEST_POSTGRES_URL:-}" ]]; then
  log "postgres: using TETHERTEST_POSTGRES_URL from the environment"
elif ! _pg_provision; then
  fail_or_warn "PostgreSQL could not be provisioned"
fi
