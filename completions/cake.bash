# bash completion for cake (generated from the command table; do not edit)
_cake_envs() { cake list -q 2>/dev/null; }
_cake_distros() { cake distros -q 2>/dev/null; }
# Paths inside env $1 (its root filesystem on the host, shown as guest paths).
_cake_guest_files() {
  local root; root=$(cake inspect "$1" --json 2>/dev/null | sed -n 's/^  "path": "\(.*\)",$/\1/p')
  [ -n "$root" ] || return
  local p="${2:-/}"; case "$p" in /*) ;; *) p="/$p" ;; esac
  COMPREPLY=( $(compgen -f -- "$root$p" | sed "s|^$root||") )
}
_cake() {
  local cur prev cmd opts vopts kind guest i name="" dd=0 npos=0
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  i=1
  while [ $i -lt $COMP_CWORD ] && [[ "${COMP_WORDS[i]}" == -* ]]; do i=$((i+1)); done
  if [ $i -ge $COMP_CWORD ]; then
    COMPREPLY=( $(compgen -W "pull enter login shell exec list ls images ps inspect clone cp rm remove rename export export-app import push cook add bake boot distros doctor gc prune config help --version --verbose --insecure --help" -- "$cur") ); return
  fi
  cmd="${COMP_WORDS[i]}"
  case "$cmd" in
    pull) opts="--name --platform --sha256 --force --packages --variant --recommends --expect-sha256 --lock --locked --allow-expired"; vopts=" --name --platform --sha256 --packages --variant --expect-sha256 --lock --locked "; kind="source"; guest=0
      case "$prev" in --name|--platform|--sha256|--packages|--expect-sha256) COMPREPLY=(); return ;; --variant) COMPREPLY=( $(compgen -W "essential minbase standard buildd" -- "$cur") ); return ;; --lock|--locked) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; esac ;;
    enter|login|shell) opts="--bind --volume --cwd --workdir --work-dir --env --env-file --user --hostname --isolated --gui --engine"; vopts=" -b --bind -v --volume -w --cwd --workdir --work-dir -e --env --env-file -u --user --hostname --engine "; kind="env-or-distro"; guest=1
      case "$prev" in -b|--bind|-v|--volume|--env-file) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; -w|--cwd|--workdir|--work-dir|-e|--env|-u|--user|--hostname) COMPREPLY=(); return ;; --engine) COMPREPLY=( $(compgen -W "auto userns proot" -- "$cur") ); return ;; esac ;;
    exec) opts="--bind --volume --cwd --workdir --work-dir --env --env-file --user --hostname --isolated --gui --engine --rm"; vopts=" -b --bind -v --volume -w --cwd --workdir --work-dir -e --env --env-file -u --user --hostname --engine "; kind="env"; guest=1
      case "$prev" in -b|--bind|-v|--volume|--env-file) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; -w|--cwd|--workdir|--work-dir|-e|--env|-u|--user|--hostname) COMPREPLY=(); return ;; --engine) COMPREPLY=( $(compgen -W "auto userns proot" -- "$cur") ); return ;; esac ;;
    list|ls|images|ps) opts="--json --quiet"; vopts="  "; kind="none"; guest=0
      case "$prev" in  esac ;;
    inspect) opts="--json"; vopts="  "; kind="env"; guest=0
      case "$prev" in  esac ;;
    clone) opts=""; vopts="  "; kind="env"; guest=0
      case "$prev" in  esac ;;
    cp) opts=""; vopts="  "; kind="file"; guest=0
      case "$prev" in  esac ;;
    rm|remove) opts="--force"; vopts="  "; kind="env"; guest=0
      case "$prev" in  esac ;;
    rename) opts=""; vopts="  "; kind="env"; guest=0
      case "$prev" in  esac ;;
    export) opts=""; vopts="  "; kind="env"; guest=0
      case "$prev" in  esac ;;
    export-app) opts="--bin-dir"; vopts=" --bin-dir "; kind="env"; guest=0
      case "$prev" in --bin-dir) COMPREPLY=( $(compgen -d -- "$cur") ); return ;; esac ;;
    import) opts="--name --sha256 --force"; vopts=" --name --sha256 "; kind="file"; guest=0
      case "$prev" in --name|--sha256) COMPREPLY=(); return ;; esac ;;
    push) opts=""; vopts="  "; kind="env"; guest=0
      case "$prev" in  esac ;;
    cook) opts="--name --no-cache --locked --engine --bake"; vopts=" --name --engine --bake "; kind="file"; guest=0
      case "$prev" in --name) COMPREPLY=(); return ;; --engine) COMPREPLY=( $(compgen -W "auto userns proot" -- "$cur") ); return ;; --bake) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; esac ;;
    add) opts="--from --nix --host"; vopts=" --from --nix --host "; kind="env"; guest=0
      case "$prev" in --from) COMPREPLY=(); return ;; --nix|--host) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; esac ;;
    bake) opts="--output --format --boot --size --kernel --modules --cmdline --ssh-key --hostname --password"; vopts=" -o --output --format --boot --size --kernel --modules --cmdline --ssh-key --hostname --password "; kind="env"; guest=0
      case "$prev" in -o|--output|--kernel|--ssh-key) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; --format) COMPREPLY=( $(compgen -W "raw qcow2" -- "$cur") ); return ;; --boot) COMPREPLY=( $(compgen -W "bios efi both" -- "$cur") ); return ;; --size|--cmdline|--hostname|--password) COMPREPLY=(); return ;; --modules) COMPREPLY=( $(compgen -d -- "$cur") ); return ;; esac ;;
    boot) opts="--expect --timeout --watchdog --memory"; vopts=" --expect --timeout --watchdog --memory "; kind="file"; guest=0
      case "$prev" in --expect|--timeout|--watchdog|--memory) COMPREPLY=(); return ;; esac ;;
    distros) opts="--json --quiet"; vopts="  "; kind="none"; guest=0
      case "$prev" in  esac ;;
    doctor) opts="--json"; vopts="  "; kind="none"; guest=0
      case "$prev" in  esac ;;
    gc|prune) opts=""; vopts="  "; kind="none"; guest=0
      case "$prev" in  esac ;;
    config) opts="--json"; vopts="  "; kind="none"; guest=0
      case "$prev" in  esac ;;
    help) opts=""; vopts="  "; kind="command"; guest=0
      case "$prev" in  esac ;;
    *) opts=""; vopts=" "; kind="none"; guest=0 ;;
  esac
  # exec/enter: after NAME, a word that is not an option (or `--`) starts the guest command.
  local j=$((i+1))
  while [ $j -lt $COMP_CWORD ]; do
    local w="${COMP_WORDS[j]}"
    if [ "$w" = "--" ]; then dd=1; break; fi
    if [[ "$w" == -* ]]; then [[ "$w" != *=* && "$vopts" == *" $w "* ]] && j=$((j+1))
    else npos=$((npos+1)); [ -z "$name" ] && name="$w"; fi
    j=$((j+1))
  done
  if [ "$guest" = 1 ] && { [ $dd = 1 ] || [ $npos -ge 1 -a "$cmd" = exec ] && [[ "$cur" != -* ]]; }; then
    [ -n "$name" ] && _cake_guest_files "$name" "$cur"; return
  fi
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts --help" -- "$cur") ); return; fi
  case "$kind" in
    env) COMPREPLY=( $(compgen -W "$(_cake_envs)" -- "$cur") ) ;;
    env-or-distro) COMPREPLY=( $(compgen -W "$(_cake_envs) $(_cake_distros)" -- "$cur") ) ;;
    source) COMPREPLY=( $(compgen -W "$(_cake_distros)" -- "$cur") $(compgen -f -- "$cur") ) ;;
    command) COMPREPLY=( $(compgen -W "pull enter exec list inspect clone cp rm rename export export-app import push cook add bake boot distros doctor gc config help" -- "$cur") ) ;;
    file) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
  esac
}
complete -F _cake cake
