#!/usr/bin/env bash
# Quick start, first command: installs what cake needs (host packages through apt as root or
# with sudo, else prints the command; the npm packages without running their install scripts, so
# nothing is compiled: node-pty, a test-only dependency, builds native code), builds it, puts
# `cake` on PATH, installs the shell completions and the man pages, and opens a shell in the
# default environment (CAKE_DEFAULT_ENV or `cake config set default-env NAME`; debian otherwise).
# `--no-enter` stops after installing.
# Where: as root system-wide (/usr/local/bin, /usr/local/share/{bash-completion,zsh,fish,man});
# as a user under ~/.local (bin, share/bash-completion, share/man) and ~/.config/fish; zsh users
# get ~/.local/share/zsh/site-functions and a line to add it to their fpath.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages scripts/host-packages.txt
ensure_node_modules runtime
npm run build --silent >&2
if [ "$(id -u)" -eq 0 ]; then
  bindir=/usr/local/bin share=/usr/local/share
  bashdir=$share/bash-completion/completions zshdir=$share/zsh/site-functions fishdir=$share/fish/vendor_completions.d
else
  bindir="$HOME/.local/bin" share="${XDG_DATA_HOME:-$HOME/.local/share}"
  bashdir=$share/bash-completion/completions zshdir=$share/zsh/site-functions fishdir="${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions"
fi
mkdir -p "$bindir" "$bashdir" "$zshdir" "$fishdir" "$share/man/man1" "$share/man/man5"
ln -sf "$PWD/bin/cake" "$bindir/cake"
ln -sf "$PWD/completions/cake.bash" "$bashdir/cake"
ln -sf "$PWD/completions/_cake" "$zshdir/_cake"
ln -sf "$PWD/completions/cake.fish" "$fishdir/cake.fish"
ln -sf "$PWD/man/cake.1" "$share/man/man1/cake.1"
ln -sf "$PWD/man/cake-recipe.5" "$share/man/man5/cake-recipe.5"
echo "cake installed as $bindir/cake (completions for bash, zsh and fish, man pages in $share/man)" >&2
case ":$PATH:" in *":$bindir:"*) ;; *) echo "hint: add $bindir to your PATH" >&2 ;; esac
if [ "$(id -u)" -ne 0 ]; then echo "hint: zsh users: add fpath=($zshdir \$fpath) before compinit in ~/.zshrc" >&2; fi
if [ "${1:-}" = "--no-enter" ]; then exit 0; fi
exec "$PWD/bin/cake" enter
