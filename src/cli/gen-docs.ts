import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './command-table.js';

/**
 * Generates the man page and the bash, zsh and fish completions from the command table.
 * Pure functions of the table: `npm run gen` writes them, and a unit test fails when the files
 * in the repository differ from what these functions produce.
 */
function longFlag(o: OptionSpec): string {
  return /--[a-z0-9-]+/.exec(o.flags)?.[0] ?? o.flags;
}

function takesValue(o: OptionSpec): boolean {
  return /[<[]/.test(o.flags);
}

function roff(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^\./gm, '\\&.').replace(/^'/gm, "\\&'");
}

export function manPage(version: string): string {
  const out: string[] = [];
  out.push(`.TH CAKE 1 "" "cake ${version}" "User Commands"`);
  out.push('.SH NAME', 'cake \\- rootless environment manager: pull, enter, cook and bake Linux root filesystems');
  out.push('.SH SYNOPSIS', '.B cake', '[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]');
  out.push('.SH DESCRIPTION');
  out.push(roff('cake pulls or builds Linux root filesystems and runs programs in them without root, under user namespaces or proot.'));
  out.push('.SH GLOBAL OPTIONS');
  for (const o of GLOBAL_OPTIONS) out.push('.TP', `.B ${roff(o.flags)}`, roff(o.description));
  out.push('.SH COMMANDS');
  for (const c of COMMANDS) {
    out.push('.SS', `.B cake ${c.name} ${roff(c.args)}`.trimEnd(), roff(c.summary) + '.');
    for (const o of c.options) out.push('.TP', `.B ${roff(o.flags)}`, roff(o.description) + (o.choices ? ` (one of: ${o.choices.join(', ')})` : ''));
    if (c.examples.length) {
      out.push('.PP', 'Examples:', '.RS', '.nf');
      for (const e of c.examples) out.push(roff(e));
      out.push('.fi', '.RE');
    }
  }
  out.push('.SH EXIT STATUS', roff('0 success; for exec, the exit code of the command; 1 operation failed; 2 usage error; 130 interrupted.'));
  out.push('.SH ENVIRONMENT');
  for (const [k, v] of [
    ['CAKE_HOME', 'where all state lives (default: XDG data, cache and config dirs)'],
    ['CAKE_DEBUG', 'set to 1 to print stack traces with errors'],
    ['CAKE_VERBOSE', 'set to 1 for --verbose'],
    ['CAKE_NO_FAKEROOT', 'set to 1 so that exec, enter and cook run steps do not record the ownership changes programs make (through a fakeroot kit)'],
    ['NO_COLOR, FORCE_COLOR', 'colour control'],
    ['HTTPS_PROXY, HTTP_PROXY, NO_PROXY', 'proxies for downloads'],
    ['SOURCE_DATE_EPOCH', 'fixed timestamps for export'],
  ] as const) out.push('.TP', `.B ${roff(k)}`, roff(v));
  return out.join('\n') + '\n';
}

function bashWords(c: CommandSpec): string {
  return c.options.map(longFlag).join(' ');
}

export function bashCompletion(): string {
  const names = COMMANDS.map((c) => c.name).join(' ');
  const cases = COMMANDS.map((c) => `    ${c.name}) opts="${bashWords(c)}"; kind="${c.completeArgs ?? 'none'}" ;;`).join('\n');
  return `# bash completion for cake (generated from the command table; do not edit)
_cake_envs() { cake list --json 2>/dev/null | sed -n 's/^ *"name": "\\(.*\\)",$/\\1/p'; }
_cake() {
  local cur prev cmd opts kind
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names} --version --verbose --insecure" -- "$cur") ); return
  fi
  case "$cmd" in
${cases}
    *) opts=""; kind="none" ;;
  esac
  case "$prev" in --bind|-o|--output) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; esac
  case "$prev" in --engine) COMPREPLY=( $(compgen -W "auto userns proot" -- "$cur") ); return ;; esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); return; fi
  case "$kind" in
    env) COMPREPLY=( $(compgen -W "$(_cake_envs)" -- "$cur") ) ;;
    command) COMPREPLY=( $(compgen -W "${names}" -- "$cur") ) ;;
    file|source) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
  esac
}
complete -F _cake cake
`;
}

function zshOpt(o: OptionSpec): string {
  const desc = o.description.replace(/[[\]:']/g, '');
  const value = takesValue(o) ? (o.choices ? `:value:(${o.choices.join(' ')})` : o.complete === 'file' ? ':path:_files' : ':value:') : '';
  const rep = o.repeatable ? '*' : '';
  return `'${rep}${longFlag(o)}[${desc}]${value}'`;
}

export function zshCompletion(): string {
  const cmds = COMMANDS.map((c) => `    '${c.name}:${c.summary.replace(/'/g, '')}'`).join('\n');
  const cases = COMMANDS.map((c) => {
    const arg = c.completeArgs === 'env' ? "'*:env:_cake_envs'" : c.completeArgs === 'file' || c.completeArgs === 'source' ? "'*:file:_files'" : c.completeArgs === 'command' ? "'1:command:_cake_commands'" : '';
    return `      ${c.name}) _arguments ${[...c.options.map(zshOpt), arg].filter(Boolean).join(' ')} ;;`;
  }).join('\n');
  return `#compdef cake
# zsh completion for cake (generated from the command table; do not edit)
_cake_envs() { local -a envs; envs=(\${(f)"$(cake list --json 2>/dev/null | sed -n 's/^ *"name": "\\(.*\\)",$/\\1/p')"}); _describe env envs; }
_cake_commands() {
  local -a cmds; cmds=(
${cmds}
  ); _describe command cmds
}
_cake() {
  local state
  _arguments '--verbose[say more]' '--insecure[allow plain HTTP registries]' '--version[print the version]' '1:command:_cake_commands' '*::arg:->args'
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

export function fishCompletion(): string {
  const lines = ['# fish completion for cake (generated from the command table; do not edit)'];
  lines.push('function __cake_envs; cake list --json 2>/dev/null | string match -r \'"name": "(.*)",\' | string match -rv \'"name"\'; end');
  const names = COMMANDS.map((c) => c.name).join(' ');
  for (const c of COMMANDS) {
    lines.push(`complete -c cake -f -n "not __fish_seen_subcommand_from ${names}" -a ${c.name} -d '${c.summary.replace(/'/g, '')}'`);
    for (const o of c.options) {
      const flag = longFlag(o).replace(/^--/, '');
      const val = takesValue(o) ? (o.choices ? ` -x -a '${o.choices.join(' ')}'` : o.complete === 'file' ? ' -r -F' : ' -x') : '';
      lines.push(`complete -c cake -n "__fish_seen_subcommand_from ${c.name}" -l ${flag}${val} -d '${o.description.replace(/'/g, '')}'`);
    }
    if (c.completeArgs === 'env') lines.push(`complete -c cake -f -n "__fish_seen_subcommand_from ${c.name}" -a '(__cake_envs)'`);
    if (c.completeArgs === 'file' || c.completeArgs === 'source') lines.push(`complete -c cake -F -n "__fish_seen_subcommand_from ${c.name}"`);
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
