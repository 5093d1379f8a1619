# Sourced by scripts/test. Installs panva's oidc-provider, the real OpenID
# Provider of testkit/testpeer, with `npm ci` from the committed lock file
# when node_modules is missing or older than package-lock.json, and exports
# TETHERTEST_NODE_MODULES. Uses the machine's node and npm.

provision_node() {
  local dir="$root/testkit/testpeer/panva"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    fail_or_warn "node and npm are needed for the panva OpenID Provider (apt-get install nodejs npm)"
    return 0
  fi
  local stamp="$dir/node_modules/.tether-lock.sha256" want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -f "$dir/node_modules/oidc-provider/package.json" ]]; then
    log "npm ci in testkit/testpeer/panva"
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
      fail_or_warn "npm ci failed in testkit/testpeer/panva"
      return 0
    fi
    printf '%s\n' "$want" >"$stamp"
  fi
  export TETHERTEST_NODE_MODULES="$dir/node_modules"
}
provision_node
