#!/usr/bin/env bash
# Quick start, first command: installs what cake needs (host packages through apt as root or
# with sudo, else prints the command; the npm packages), builds it, puts `cake` on PATH and opens
# a shell in the default environment (debian). `--no-enter` stops after installing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages scripts/host-packages.txt
ensure_node_modules
npm run build --silent >&2
if [ "$(id -u)" -eq 0 ]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
mkdir -p "$bindir"
ln -sf "$PWD/bin/cake" "$bindir/cake"
echo "cake installed as $bindir/cake" >&2
case ":$PATH:" in *":$bindir:"*) ;; *) echo "hint: add $bindir to your PATH" >&2 ;; esac
if [ "${1:-}" = "--no-enter" ]; then exit 0; fi
exec "$PWD/bin/cake" enter "${CAKE_DEFAULT_ENV:-debian}"
