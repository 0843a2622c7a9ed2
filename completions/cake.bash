# bash completion for cake (generated from the command table; do not edit)
_cake_envs() { cake list --json 2>/dev/null | sed -n 's/^ *"name": "\(.*\)",$/\1/p'; }
_cake() {
  local cur prev cmd opts kind
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  cmd="${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "pull enter exec list rm rename export import push cook add bake boot distros doctor gc help --version --verbose --insecure" -- "$cur") ); return
  fi
  case "$cmd" in
    pull) opts="--name --platform --sha256 --force --packages --variant --recommends --expect-sha256 --lock --locked --allow-expired"; kind="source" ;;
    enter) opts="--bind --cwd --env --user --isolated --engine"; kind="env" ;;
    exec) opts="--bind --cwd --env --user --isolated --engine"; kind="env" ;;
    list) opts="--json"; kind="none" ;;
    rm) opts=""; kind="env" ;;
    rename) opts=""; kind="env" ;;
    export) opts=""; kind="env" ;;
    import) opts="--name --sha256 --force"; kind="file" ;;
    push) opts=""; kind="env" ;;
    cook) opts="--name --no-cache --locked --engine"; kind="file" ;;
    add) opts="--from --nix --host"; kind="env" ;;
    bake) opts="--output --format --boot --size --kernel --modules --cmdline --ssh-key --hostname --password"; kind="env" ;;
    boot) opts="--expect --timeout --memory"; kind="file" ;;
    distros) opts="--json"; kind="none" ;;
    doctor) opts="--json"; kind="none" ;;
    gc) opts=""; kind="none" ;;
    help) opts=""; kind="command" ;;
    *) opts=""; kind="none" ;;
  esac
  case "$prev" in --bind|-o|--output) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; esac
  case "$prev" in --engine) COMPREPLY=( $(compgen -W "auto userns proot" -- "$cur") ); return ;; esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); return; fi
  case "$kind" in
    env) COMPREPLY=( $(compgen -W "$(_cake_envs)" -- "$cur") ) ;;
    command) COMPREPLY=( $(compgen -W "pull enter exec list rm rename export import push cook add bake boot distros doctor gc help" -- "$cur") ) ;;
    file|source) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
  esac
}
complete -F _cake cake
