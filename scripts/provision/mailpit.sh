# Sourced by scripts/test. Provides mailpit, the real SMTP server of the
# mail tests (a Go program: github.com/axllent/mailpit), and exports
#   TETHERTEST_MAILPIT_BIN   the mailpit binary, for tests that start their
#                            own server (TLS, auth, a server that goes down)
#   TETHERTEST_MAILPIT_SMTP  host:port of a shared plain-SMTP server
#   TETHERTEST_MAILPIT_API   base URL of its HTTP API (http://host:port)
#
# - TETHERTEST_MAILPIT_BIN already set to an executable: use it.
# - Otherwise use the binary built earlier in the cache folder
#   ($TETHERTEST_CACHE, default ~/.cache/tether-test), or build it there
#   with `go install` from the Go module proxy (about 30 s, once per
#   version).
# - TETHERTEST_MAILPIT_SMTP and TETHERTEST_MAILPIT_API both set: use that
#   server, start nothing. Otherwise start one on free ports of 127.0.0.1,
#   with its database in $TETHERTEST_WORK, and stop it when scripts/test
#   exits.
#
# The shared server takes any recipient, without TLS or authentication;
# tests tell their messages apart by recipient (testkit/mailtest), because
# every package's tests use it at once.

_mailpit_version=v1.33.1

_mailpit_bin() {
  if [[ -n "${TETHERTEST_MAILPIT_BIN:-}" && -x "$TETHERTEST_MAILPIT_BIN" ]]; then
    printf '%s\n' "$TETHERTEST_MAILPIT_BIN"; return 0
  fi
  local cache="${TETHERTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tether-test}"
  local dir="$cache/mailpit-$_mailpit_version"
  if [[ ! -x "$dir/mailpit" ]]; then
    command -v go >/dev/null || { log "mailpit: go is not installed"; return 1; }
    log "mailpit: building github.com/axllent/mailpit@$_mailpit_version into $dir"
    mkdir -p "$dir" || return 1
    # Outside the module, so that tether's go.mod is not consulted.
    if ! (cd "$dir" && GOBIN="$dir" GOFLAGS= go install "github.com/axllent/mailpit@$_mailpit_version" >&2); then
      log "mailpit: go install failed"; return 1
    fi
  fi
  printf '%s\n' "$dir/mailpit"
}

_mailpit_start() {
  local bin=$1 data smtp_port http_port pid i
  data=$(mktemp -d "$TETHERTEST_WORK/mailpit.XXXXXX") || return 1
  for i in 1 2 3 4 5 6 7 8; do
    smtp_port=$(_mailpit_free_port)
    http_port=$(_mailpit_free_port)
    [[ $smtp_port != "$http_port" ]] || continue
    "$bin" --smtp "127.0.0.1:$smtp_port" --listen "127.0.0.1:$http_port" \
      --database "$data/mailpit.db" --max 10000 \
      --disable-version-check --smtp-disable-rdns --quiet \
      </dev/null >>"$data/mailpit.log" 2>&1 &
    pid=$!
    if _mailpit_wait "$bin" "$pid" "$smtp_port" "$http_port"; then
      cleanup "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
      export TETHERTEST_MAILPIT_SMTP="127.0.0.1:$smtp_port"
      export TETHERTEST_MAILPIT_API="http://127.0.0.1:$http_port"
      log "mailpit: $_mailpit_version SMTP on $TETHERTEST_MAILPIT_SMTP, API on $TETHERTEST_MAILPIT_API"
      return 0
    fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    # Most likely another run took a port between the check and the start.
    log "mailpit: start failed, retrying:"; tail -n 3 "$data/mailpit.log" >&2
  done
  log "mailpit: could not start the server:"; tail -n 20 "$data/mailpit.log" >&2
  return 1
}

# _mailpit_wait BIN PID SMTP_PORT HTTP_PORT waits up to 30 s until the
# server answers on both ports, and fails at once if it exits.
_mailpit_wait() {
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    if "$1" readyz --listen "127.0.0.1:$4" >/dev/null 2>&1 &&
       (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# _mailpit_free_port prints a random port of 127.0.0.1 that nothing
# listens on right now.
_mailpit_free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

provision_mailpit() {
  local bin
  if ! bin=$(_mailpit_bin); then
    fail_or_warn "mailpit could not be installed (go install github.com/axllent/mailpit@$_mailpit_version)"
    return 0
  fi
  export TETHERTEST_MAILPIT_BIN="$bin"
  if [[ -n "${TETHERTEST_MAILPIT_SMTP:-}" && -n "${TETHERTEST_MAILPIT_API:-}" ]]; then
    log "mailpit: using TETHERTEST_MAILPIT_SMTP and TETHERTEST_MAILPIT_API from the environment"
    return 0
  fi
  if ! _mailpit_start "$bin"; then
    fail_or_warn "mailpit could not be started"
  fi
}
provision_mailpit
