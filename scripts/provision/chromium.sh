# Sourced by scripts/test. Provides headless Chromium for the browser tests
# of package web and exports TETHERTEST_CHROMIUM.
#
# - TETHERTEST_CHROMIUM already set to an executable: use it.
# - Otherwise use chromium from PATH (/usr/bin/chromium on Debian), and
#   install Debian's chromium package with apt-get when it is missing.
# - The Chinese pages need a CJK font, or screenshots show empty boxes:
#   when fontconfig knows none, install fonts-wqy-microhei (small).
# Packages are installed non-interactively, without recommends; apt-get
# update is run only when a plain install fails.

_chromium_apt() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      log "chromium: cannot install $* (not root, no sudo)"; return 1
    fi
  fi
  command -v apt-get >/dev/null || { log "chromium: cannot install $* (no apt-get)"; return 1; }
  log "chromium: installing $* with apt-get"
  local attempt
  for attempt in install update-then-install; do
    if [[ $attempt == update-then-install ]]; then
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    fi
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; then
      return 0
    fi
  done
  return 1
}

_chromium_find() {
  if [[ -n "${TETHERTEST_CHROMIUM:-}" && -x "$TETHERTEST_CHROMIUM" ]]; then
    printf '%s\n' "$TETHERTEST_CHROMIUM"; return 0
  fi
  local c
  for c in /usr/bin/chromium chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

provision_chromium() {
  local bin
  if ! bin=$(_chromium_find); then
    if ! _chromium_apt chromium || ! bin=$(_chromium_find); then
      fail_or_warn "chromium is not installed and could not be installed (apt-get install chromium)"
      return 0
    fi
  fi
  if command -v fc-list >/dev/null 2>&1 && [[ -z "$(fc-list :lang=zh 2>/dev/null)" ]]; then
    _chromium_apt fonts-wqy-microhei || log "chromium: warning: no CJK font; Chinese screenshots will show boxes"
  fi
  export TETHERTEST_CHROMIUM="$bin"
  log "chromium: $("$bin" --version 2>/dev/null | tail -n 1)"
}
provision_chromium
