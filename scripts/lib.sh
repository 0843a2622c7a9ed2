# Shared shell helpers for scripts/setup.sh and scripts/test.sh.
# ensure_packages FILE...: installs the Debian packages listed in FILEs that are missing,
# with apt-get as root or through sudo; otherwise prints the exact command and fails.
ensure_packages() {
  local missing=() pkg
  while read -r pkg; do
    [ -z "$pkg" ] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done < <(grep -hv '^\s*#' "$@" | sed 's/\s.*//' | sort -u)
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "cake: missing host packages: ${missing[*]}" >&2
    echo "hint: install them with your distribution's package manager" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo"
    else
      echo "cake: missing host packages: ${missing[*]}" >&2
      echo "hint: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "installing host packages: ${missing[*]}" >&2
  $sudo apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ensure_node_modules [runtime|all]: installs the locked npm packages when node_modules is
# missing or stale. `runtime` (setup.sh) runs no install scripts, so nothing compiles native code
# (node-pty, used only by the tests, would need a compiler and node headers); `all` (test.sh,
# the default) also builds those, and rebuilds an install that setup.sh made without them.
ensure_node_modules() {
  local mode="${1:-all}"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    if [ "$mode" = runtime ]; then
      npm ci --ignore-scripts --no-audit --no-fund >&2
    else
      npm ci --no-audit --no-fund >&2
    fi
  elif [ "$mode" = all ] && ! node -e "require('node-pty')" >/dev/null 2>&1; then
    npm rebuild node-pty >&2
  fi
}
