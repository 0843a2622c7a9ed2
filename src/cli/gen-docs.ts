import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './command-table.js';
import { CONFIG_KEYS } from './config.js';

/**
 * Generates the man page and the bash, zsh and fish completions from the command table.
 * Pure functions of the table: `npm run gen` writes them, and a unit test fails when the files
 * in the repository differ from what these functions produce.
 */
function takesValue(o: OptionSpec): boolean {
  return /[<[]/.test(o.flags);
}

/** Non-ASCII characters the table's text uses, spelled in ASCII (man under the POSIX locale warns otherwise). */
function ascii(text: string): string {
  return text.replace(/…/g, '...').replace(/[—–]/g, '-').replace(/→/g, '->').replace(/[‘’]/g, "'").replace(/[“”]/g, '"');
}

function roff(text: string): string {
  return ascii(text).replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^\./gm, '\\&.').replace(/^'/gm, "\\&'");
}

/** The man page's date: bump it when the command table changes (the page must be reproducible). */
export const MAN_DATE = '2026-12-04';

/** Every environment variable cake reads, for ENVIRONMENT (grep the source for `env.` when adding one). */
export const ENVIRONMENT: readonly (readonly [string, string])[] = [
  ['CAKE_HOME', 'where all state lives (default: the XDG data, cache and config directories)'],
  ['XDG_DATA_HOME, XDG_CACHE_HOME, XDG_CONFIG_HOME', 'the XDG base directories cake uses when CAKE_HOME is unset'],
  ...CONFIG_KEYS.map((k) => [k.envVar, `overrides the \`${k.key}\` setting: ${k.description}`] as const),
  ['CAKE_DEBUG', 'set to 1 to print stack traces with errors'],
  ['CAKE_VERBOSE', 'set to 1 for --verbose'],
  ['CAKE_NO_FAKEROOT', 'set to 1 so that exec, enter and cook run steps do not record the ownership changes programs make (through a fakeroot kit)'],
  ['CAKE_PROOT', 'a proot binary to use for the proot engine (it must pass the self-check)'],
  ['CAKE_BOOT_ACCEL', 'kvm, tcg or auto (default): the QEMU accelerator of cake boot'],
  ['CAKE_BOOT_FIRMWARE', 'bios or efi: how cake boot boots an image that has both'],
  ['CAKE_BAKE_SEED', 'a seed for the identifiers cake bake generates (UUIDs, machine-id), for reproducible images'],
  ['CAKE_NET_TIMEOUT', 'seconds a silent server is waited for before a download fails (default 60; what arrived is kept and resumed)'],
  ['CAKE_SNAPSHOT_URL', 'the snapshot service that serves a lock file\'s pinned packages once the archive has dropped them (default http://snapshot.debian.org, https://snapshot.ubuntu.com for Ubuntu)'],
  ['REGISTRY_AUTH_FILE', 'a containers auth.json with registry credentials (read first)'],
  ['XDG_RUNTIME_DIR', 'containers/auth.json under it holds podman login credentials; bound into the env with --gui'],
  ['TMPDIR', 'without XDG_RUNTIME_DIR, podman login writes $TMPDIR/podman-run-UID/containers/auth.json (TMPDIR defaults to /tmp), and cake reads it'],
  ['DOCKER_CONFIG', 'the directory of docker\'s config.json (default ~/.docker)'],
  ['DISPLAY, WAYLAND_DISPLAY, PULSE_SERVER, XAUTHORITY', 'passed to the guest with --gui (or the gui setting), with /tmp/.X11-unix and the XAUTHORITY file bound'],
  ['HOME', 'bound into enter/exec (unless --isolated); ~/.docker and ~/.config are read for credentials'],
  ['TERM', 'passed to the guest, so that the terminal works'],
  ['NO_COLOR, FORCE_COLOR', 'colour control (they win over the colour setting)'],
  ['HTTPS_PROXY, HTTP_PROXY, NO_PROXY (and lowercase)', 'proxies for downloads'],
  ['SOURCE_DATE_EPOCH', 'fixed timestamps for export and bake'],
];

export function manPage(version: string): string {
  const out: string[] = [];
  out.push(`.TH CAKE 1 "${MAN_DATE}" "cake ${version}" "User Commands"`);
  out.push('.SH NAME', 'cake \\- rootless environment manager: pull, enter, cook and bake Linux root filesystems');
  out.push('.SH SYNOPSIS', '.B cake', '[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]');
  out.push('.SH DESCRIPTION');
  out.push(roff('cake pulls or builds Linux root filesystems and runs programs in them without root, under user namespaces or proot.'));
  out.push('.PP', roff('For exec, the first word after NAME that is not one of cake\'s options starts the command, and everything after it belongs to the command (as with docker exec); `--` also ends cake\'s options. For enter, `-- CMD` runs CMD in a login shell.'));
  out.push('.SH GLOBAL OPTIONS');
  for (const o of GLOBAL_OPTIONS) out.push('.TP', `.B ${roff(o.flags)}`, roff(o.description));
  out.push('.SH COMMANDS');
  for (const c of COMMANDS) {
    const aliases = c.aliases?.length ? ` Also: ${c.aliases.join(', ')}.` : '';
    out.push('.SS', `.B cake ${c.name} ${roff(c.args)}`.trimEnd(), roff(c.summary) + '.' + roff(aliases));
    for (const o of c.options) {
      const also = o.aliases?.length ? ` (also ${o.aliases.join(', ')})` : '';
      out.push('.TP', `.B ${roff(o.flags)}`, roff(o.description + also) + (o.choices ? ` (one of: ${o.choices.join(', ')})` : ''));
    }
    if (c.examples.length) {
      out.push('.PP', 'Examples:', '.RS', '.nf');
      for (const e of c.examples) out.push(roff(e));
      out.push('.fi', '.RE');
    }
  }
  out.push('.SH CONFIGURATION');
  out.push(roff('cake config set KEY VALUE writes the user configuration file (see FILES); each key is overridden by its CAKE_* variable (see ENVIRONMENT). The keys:'));
  for (const k of CONFIG_KEYS) out.push('.TP', `.B ${roff(k.key)}`, roff(k.description + (k.choices ? ` (one of: ${k.choices.join(', ')})` : '')));
  out.push('.SH EXIT STATUS', roff('0 success; for exec, the exit code of the command; 1 operation failed; 2 usage error; 130 interrupted.'));
  out.push('.SH ENVIRONMENT');
  for (const [k, v] of ENVIRONMENT) out.push('.TP', `.B ${roff(k)}`, roff(v));
  out.push('.SH FILES');
  for (const [k, v] of [
    ['~/.local/share/cake/v1/envs/NAME/', 'an environment: rootfs/ and env.json (its source, pins and ownership table)'],
    ['~/.local/share/cake/v1/store/blobs/', 'the content-addressed store of downloaded blobs'],
    ['~/.cache/cake/v1/', 'refetchable data: archive indices, partial downloads, engine self-checks, the provisioned proot'],
    ['~/.config/cake/config.json', 'the user configuration (cake config)'],
    ['$CAKE_HOME/{v1,cache/v1,config}/', 'all of the above when CAKE_HOME is set'],
    ['$REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json', 'registry credentials, read first (podman login writes the second)'],
    ['/run/containers/0/auth.json, /run/user/UID/containers/auth.json, /tmp/podman-run-UID/containers/auth.json', 'where podman login writes when XDG_RUNTIME_DIR is unset (root; a user)'],
    ['~/.config/containers/auth.json, ~/.docker/config.json, ~/.dockercfg', 'more registry credentials (skopeo, docker login; credHelpers and credsStore run docker-credential-NAME)'],
    ['~/.local/bin/PROGRAM, ~/.local/share/applications/cake-NAME-ENTRY.desktop', 'what cake export-app writes ($XDG_DATA_HOME/applications when set)'],
    ['/usr/local/share/bash-completion/completions/cake', 'the bash completion as scripts/setup.sh installs it for root (for a user: ~/.local/share/bash-completion/completions/cake)'],
    ['/usr/local/share/zsh/site-functions/_cake', 'the zsh completion (for a user: ~/.local/share/zsh/site-functions/_cake, added to fpath)'],
    ['/usr/local/share/fish/vendor_completions.d/cake.fish', 'the fish completion (for a user: ~/.config/fish/completions/cake.fish)'],
    ['/usr/local/share/man/man1/cake.1, /usr/local/share/man/man5/cake-recipe.5', 'these man pages (for a user: under ~/.local/share/man)'],
  ] as const) out.push('.TP', `.B ${roff(k)}`, roff(v));
  out.push('.SH SEE ALSO');
  out.push(roff('cake-recipe(5), proot(1), unshare(1), newuidmap(1), fakeroot(1), qemu-system-x86_64(1), mmdebstrap(1), debootstrap(8), skopeo(1), umoci(1), podman(1), podman-login(1), containers-auth.json(5), docker(1), distrobox(1), toolbox(1)'));
  return out.join('\n') + '\n';
}

function allFlags(o: OptionSpec): string[] {
  return [...[...o.flags.matchAll(/(?:^|[ ,])(--?[A-Za-z0-9][A-Za-z0-9-]*)/g)].map((m) => m[1]!), ...(o.aliases ?? [])];
}

/** What an option's value completes to, as a word the completion scripts switch on. */
function valueKind(o: OptionSpec): string {
  if (!takesValue(o)) return '';
  if (o.choices) return `choices:${o.choices.join(' ')}`;
  return o.complete === 'file' || o.complete === 'dir' || o.complete === 'env' || o.complete === 'distro' ? o.complete : 'none';
}

/** The command's words that take a value, grouped by what the value is. */
function valueCases(c: CommandSpec): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const o of c.options) {
    const k = valueKind(o);
    if (k === '') continue;
    out.set(k, [...(out.get(k) ?? []), ...allFlags(o)]);
  }
  return out;
}

const GUEST_CMD = new Set(['exec', 'enter']);

export function bashCompletion(): string {
  const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]).join(' ');
  const cases = COMMANDS.map((c) => {
    const vals = [...valueCases(c)].map(([k, flags]) => {
      const reply = k.startsWith('choices:') ? `COMPREPLY=( $(compgen -W "${k.slice(8)}" -- "$cur") )` : k === 'file' ? 'COMPREPLY=( $(compgen -f -- "$cur") )' : k === 'dir' ? 'COMPREPLY=( $(compgen -d -- "$cur") )' : k === 'env' ? 'COMPREPLY=( $(compgen -W "$(_cake_envs)" -- "$cur") )' : 'COMPREPLY=()';
      return `${flags.join('|')}) ${reply}; return ;;`;
    });
    const words = c.options.flatMap(allFlags).filter((f) => f.startsWith('--')).join(' ');
    const pat = [c.name, ...(c.aliases ?? [])].join('|');
    const vopts = c.options.filter(takesValue).flatMap(allFlags).join(' ');
    return `    ${pat}) opts="${words}"; vopts=" ${vopts} "; kind="${c.completeArgs ?? 'none'}"; guest=${GUEST_CMD.has(c.name) ? 1 : 0}
      case "$prev" in ${vals.join(' ')} esac ;;`;
  }).join('\n');
  return `# bash completion for cake (generated from the command table; do not edit)
_cake_envs() { cake list -q 2>/dev/null; }
_cake_distros() { cake distros -q 2>/dev/null; }
# Paths inside env $1 (its root filesystem on the host, shown as guest paths).
_cake_guest_files() {
  local root; root=$(cake inspect "$1" --json 2>/dev/null | sed -n 's/^  "path": "\\(.*\\)",$/\\1/p')
  [ -n "$root" ] || return
  local p="\${2:-/}"; case "$p" in /*) ;; *) p="/$p" ;; esac
  COMPREPLY=( $(compgen -f -- "$root$p" | sed "s|^$root||") )
}
_cake() {
  local cur prev cmd opts vopts kind guest i name="" dd=0 npos=0
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  i=1
  while [ $i -lt $COMP_CWORD ] && [[ "\${COMP_WORDS[i]}" == -* ]]; do i=$((i+1)); done
  if [ $i -ge $COMP_CWORD ]; then
    COMPREPLY=( $(compgen -W "${names} --version --verbose --insecure --help" -- "$cur") ); return
  fi
  cmd="\${COMP_WORDS[i]}"
  case "$cmd" in
${cases}
    *) opts=""; vopts=" "; kind="none"; guest=0 ;;
  esac
  # exec/enter: after NAME, a word that is not an option (or \`--\`) starts the guest command.
  local j=$((i+1))
  while [ $j -lt $COMP_CWORD ]; do
    local w="\${COMP_WORDS[j]}"
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
    command) COMPREPLY=( $(compgen -W "${COMMANDS.map((c) => c.name).join(' ')}" -- "$cur") ) ;;
    file) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
  esac
}
complete -F _cake cake
`;
}

/** Text for a zsh single-quoted word: ' becomes '\'' . */
function zq(text: string): string {
  return text.replace(/'/g, "'\\''");
}

function zshOpt(o: OptionSpec): string[] {
  // Inside _arguments' [description], brackets must be escaped; nothing else is lost.
  const desc = zq(o.description.replace(/([[\]\\])/g, '\\$1'));
  const k = valueKind(o);
  const value = k === '' ? '' : k.startsWith('choices:') ? `:value:(${k.slice(8)})` : k === 'file' ? ':path:_files' : k === 'dir' ? ':dir:_files -/' : k === 'env' ? ':env:_cake_envs' : ':value: ';
  const rep = o.repeatable ? '*' : '';
  const flags = allFlags(o);
  const excl = flags.length > 1 && !o.repeatable ? `(${flags.join(' ')})` : '';
  return flags.map((f) => `'${excl}${rep}${f}[${desc}]${value}'`);
}

export function zshCompletion(): string {
  const cmds = COMMANDS.map((c) => `    '${c.name}:${zq(c.summary.replace(/:/g, '\\:'))}'`).join('\n');
  const cases = COMMANDS.map((c) => {
    const arg =
      c.name === 'exec' ? "'1:env:_cake_envs' '*::guest command:_cake_guest_files'"
      : c.name === 'enter' ? "'1:env or distro:_cake_env_or_distro' '*::guest command:_cake_guest_files'"
      : c.completeArgs === 'env' ? "'*:env:_cake_envs'"
      : c.completeArgs === 'env-or-distro' ? "'*:env or distro:_cake_env_or_distro'"
      : c.completeArgs === 'source' ? "'*:source:_cake_sources'"
      : c.completeArgs === 'file' ? "'*:file:_files'"
      : c.completeArgs === 'command' ? "'1:command:_cake_commands'" : '';
    const pat = [c.name, ...(c.aliases ?? [])].join('|');
    return `      ${pat}) _arguments -S ${[...c.options.flatMap(zshOpt), arg].filter(Boolean).join(' ')} ;;`;
  }).join('\n');
  return `#compdef cake
# zsh completion for cake (generated from the command table; do not edit)
_cake_envs() { local -a envs; envs=(\${(f)"$(cake list -q 2>/dev/null)"}); _describe env envs; }
_cake_distros() { local -a d; d=(\${(f)"$(cake distros -q 2>/dev/null)"}); d=(\${d//:/\\:}); _describe distro d; }
_cake_env_or_distro() { _cake_envs; _cake_distros; }
_cake_sources() { _cake_distros; _files; }
# Paths inside the env named on the line (its root filesystem on the host, shown as guest paths).
_cake_guest_files() {
  local name root; name=\${line[1]:-\${words[2]}}
  root=$(cake inspect "$name" --json 2>/dev/null | sed -n 's/^  "path": "\\(.*\\)",$/\\1/p')
  [[ -n $root ]] || return 1
  _files -W "$root" -P / 
}
_cake_commands() {
  local -a cmds; cmds=(
${cmds}
  ); _describe command cmds
}
_cake() {
  local state line
  _arguments '(-v --verbose)'{-v,--verbose}'[say more on stderr]' '--insecure[allow plain HTTP registries]' '--version[print the version]' '1:command:_cake_commands' '*::arg:->args'
  case $state in
    args)
      case $words[1] in
${cases}
      esac ;;
  esac
}
_cake "$@"
`;
}

/** Text for a fish single-quoted word. */
function fq(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}

export function fishCompletion(): string {
  const lines = ['# fish completion for cake (generated from the command table; do not edit)'];
  lines.push("function __cake_envs; cake list -q 2>/dev/null; end");
  lines.push("function __cake_distros; cake distros -q 2>/dev/null; end");
  lines.push('# true once the guest command has started: after `--`, or (exec) after the env name');
  lines.push("function __cake_in_guest_cmd; set -l t (commandline -opc); set -e t[1]; set -l seen 0; set -l cmd ''; for w in $t; if test \"$w\" = '--'; return 0; end; if test -z \"$cmd\"; if not string match -q -- '-*' $w; set cmd $w; end; continue; end; if not string match -q -- '-*' $w; set seen (math $seen + 1); end; end; test \"$cmd\" = exec -a $seen -ge 1; end");
  lines.push("function __cake_guest_files; set -l t (commandline -opc); set -l name ''; set -l i 0; for w in $t[3..]; if not string match -q -- '-*' $w; set name $w; break; end; end; test -n \"$name\"; or return; set -l root (cake inspect $name --json 2>/dev/null | string match -r '^  \"path\": \"(.*)\",$')[2]; test -n \"$root\"; or return; set -l cur (commandline -ct); string match -q -- '/*' $cur; or set cur /$cur; for f in $root$cur*; string replace -- $root '' $f; end; end");
  const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]).join(' ');
  for (const c of COMMANDS) {
    const seen = [c.name, ...(c.aliases ?? [])].join(' ');
    const cond = GUEST_CMD.has(c.name) ? `__fish_seen_subcommand_from ${seen}; and not __cake_in_guest_cmd` : `__fish_seen_subcommand_from ${seen}`;
    lines.push(`complete -c cake -f -n "not __fish_seen_subcommand_from ${names}" -a ${c.name} -d '${fq(c.summary)}'`);
    for (const o of c.options) {
      const flags = allFlags(o);
      const spec = flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
      const k = valueKind(o);
      const val = k === '' ? '' : k.startsWith('choices:') ? ` -x -a '${k.slice(8)}'` : k === 'file' ? ' -r -F' : k === 'dir' ? " -x -a '(__fish_complete_directories)'" : k === 'env' ? " -x -a '(__cake_envs)'" : ' -x';
      lines.push(`complete -c cake -n "${cond}" ${spec}${val} -d '${fq(o.description)}'`);
    }
    if (c.completeArgs === 'env') lines.push(`complete -c cake -f -n "${cond}" -a '(__cake_envs)'`);
    if (c.completeArgs === 'env-or-distro') lines.push(`complete -c cake -f -n "${cond}" -a '(__cake_envs) (__cake_distros)'`);
    if (c.completeArgs === 'source') lines.push(`complete -c cake -F -n "${cond}" -a '(__cake_distros)'`);
    if (c.completeArgs === 'file') lines.push(`complete -c cake -F -n "${cond}"`);
    if (c.completeArgs === 'command') lines.push(`complete -c cake -f -n "${cond}" -a '${COMMANDS.map((x) => x.name).join(' ')}'`);
    if (GUEST_CMD.has(c.name)) lines.push(`complete -c cake -f -n "__fish_seen_subcommand_from ${seen}; and __cake_in_guest_cmd" -a '(__cake_guest_files)'`);
  }
  return lines.join('\n') + '\n';
}

/** Every generated file, relative to the repository root. */
export function generatedFiles(version: string): Record<string, string> {
  return {
    'man/cake.1': manPage(version),
    'completions/cake.bash': bashCompletion(),
    'completions/_cake': zshCompletion(),
    'completions/cake.fish': fishCompletion(),
  };
}
