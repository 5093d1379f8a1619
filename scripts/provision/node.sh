# Sourced by scripts/test. Installs the node packages of the tests with
# `npm ci` from each folder's committed lock file, when node_modules is
# missing or older than package-lock.json, and exports where they are:
#
#   testkit/testpeer/panva  panva's oidc-provider, the real OpenID Provider
#                           of testkit/testpeer     TETHERTEST_NODE_MODULES
#   testkit/rp/node         panva's openid-client, the certified relying
#                           party of testkit/rp     TETHERTEST_RP_NODE_MODULES
#
# Uses the machine's node and npm.

# _node_ci DIR PACKAGE VAR: npm ci in DIR unless its node_modules already
# matches the lock file and holds PACKAGE; then export VAR.
_node_ci() {
  local dir="$root/$1" pkg=$2 var=$3
  local stamp="$dir/node_modules/.tether-lock.sha256" want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -f "$dir/node_modules/$pkg/package.json" ]]; then
    log "npm ci in $1"
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
      fail_or_warn "npm ci failed in $1"
      return 0
    fi
    printf '%s\n' "$want" >"$stamp"
  fi
  export "$var=$dir/node_modules"
}

provision_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    fail_or_warn "node and npm are needed for the panva OpenID Provider and the openid-client relying party (apt-get install nodejs npm)"
    return 0
  fi
  _node_ci testkit/testpeer/panva oidc-provider TETHERTEST_NODE_MODULES
  _node_ci testkit/rp/node openid-client TETHERTEST_RP_NODE_MODULES
}
provision_node
