/**
 * The command table: the one description of cake's command-line interface. Commander is
 * configured from it, and so are `cake help`, the man page and the shell completions
 * (`npm run gen`; a test fails when the generated files are stale). The command contract (README.md, cake(1))
 * is public: extend it, never rename or remove.
 */
import { PULL_OPTIONS, RUN_OPTIONS } from './command-options.js';

export interface OptionSpec {
  /** Commander flags, e.g. `--bind <SRC[:DST]>` or `-o, --output <IMAGE>`. */
  flags: string;
  description: string;
  /** May be given several times (collected into an array). */
  repeatable?: boolean;
  choices?: readonly string[];
  /** For completions: what the value is. */
  complete?: 'file' | 'dir' | 'env' | 'source' | 'distro' | 'none';
  /** Other spellings accepted for this option (peers' flags: `-v`, `--volume`, `--workdir`). */
  aliases?: readonly string[];
}

export interface CommandSpec {
  name: string;
  /** Positional arguments as shown in usage, e.g. `SOURCE` or `NAME [-- CMD [ARG...]]`. */
  args: string;
  summary: string;
  /** For completions: what positionals are (`env-or-distro`: an env name or a distro to pull). */
  completeArgs?: 'env' | 'env-or-distro' | 'source' | 'file' | 'command' | 'none';
  /** Other names of the command (peers' verbs that mean exactly this). */
  aliases?: readonly string[];
  options: readonly OptionSpec[];
  examples: readonly string[];
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'pull',
    args: '[SOURCE]',
    summary: 'create an environment from a distro, registry image, OCI layout, image archive (docker save / podman save), URL or tarball',
    completeArgs: 'source',
    options: PULL_OPTIONS,
    examples: [
      'cake pull alpine',
      'cake pull debian:bookworm --name web',
      'cake pull docker://docker.io/library/nginx:1.27 --name web',
      'cake pull oci:./layout:latest --name app',
      'cake pull ./saved.tar --name app',
      'cake pull docker-archive:./saved.tar:localhost/app:1 --name app',
      'cake pull docker-archive:./saved.tar:@0 --name app',
      'cake pull oci-archive:./app-oci.tar --name app',
      'cake pull oci-archive:./app-oci.tar:app:1 --name app',
      'cake pull https://example.org/rootfs.tar.xz --sha256 0123…',
      'cake pull ./rootfs.tar.gz --name mine',
    ],
  },
  {
    name: 'enter',
    args: '[NAME] [-- CMD [ARG...]]',
    summary: 'open an interactive login shell in an environment (pulls a known distro first)',
    completeArgs: 'env-or-distro',
    aliases: ['login', 'shell'],
    options: RUN_OPTIONS,
    examples: ['cake enter alpine', 'cake enter web -v ~/src:/src -w /src', 'cake enter debian -- echo hi'],
  },
  {
    name: 'exec',
    args: 'NAME [CMD [ARG...]]',
    summary: 'run a command in an environment; its exit code is cake\'s',
    completeArgs: 'env',
    options: [...RUN_OPTIONS, { flags: '--rm', description: 'run in a throw-away copy of the env, removed afterwards' }],
    examples: ['cake exec alpine cat /etc/os-release', 'cake exec web -e DEBUG=1 sh -c \'echo $DEBUG\'', 'cake exec web --rm -- apt-get install -y curl'],
  },
  {
    name: 'list',
    args: '',
    summary: 'list environments',
    aliases: ['ls', 'images', 'ps'],
    options: [
      { flags: '--json', description: 'machine-readable output' },
      { flags: '-q, --quiet', description: 'print only the names' },
    ],
    examples: ['cake list', 'cake list --json', 'cake list -q'],
  },
  {
    name: 'inspect',
    args: 'NAME',
    summary: 'show one environment: source, release, size, last use, whether it is in use',
    completeArgs: 'env',
    options: [{ flags: '--json', description: 'machine-readable output' }],
    examples: ['cake inspect web', 'cake inspect web --json'],
  },
  {
    name: 'clone',
    args: 'OLD NEW',
    summary: 'copy an environment (a private copy; reflinks where the filesystem has them)',
    completeArgs: 'env',
    options: [],
    examples: ['cake clone web web-test'],
  },
  {
    name: 'cp',
    args: 'SRC DST',
    summary: 'copy files between an environment and the host (one side is ENV:/PATH)',
    completeArgs: 'file',
    options: [],
    examples: ['cake cp web:/etc/nginx/nginx.conf .', 'cake cp ./site web:/srv/'],
  },
  {
    name: 'rm',
    args: 'NAME...',
    summary: 'remove environments, whatever the modes of their files',
    completeArgs: 'env',
    aliases: ['remove'],
    options: [{ flags: '--force', description: 'remove an environment even while an enter/exec runs in it' }],
    examples: ['cake rm web old', 'cake rm --force web'],
  },
  {
    name: 'rename',
    args: 'OLD NEW',
    summary: 'rename an environment',
    completeArgs: 'env',
    options: [],
    examples: ['cake rename web web-old'],
  },
  {
    name: 'export',
    args: 'NAME FILE.tar[.gz|.xz|.zst]|-',
    summary: 'write an environment as a tarball with its real ownership (- for a plain tar on stdout)',
    completeArgs: 'env',
    options: [],
    examples: ['cake export web web.tar.zst', 'cake export web - | ssh host cake import - --name web'],
  },
  {
    name: 'export-app',
    args: 'NAME PROGRAM',
    summary: 'write a host command (and a desktop entry, when the env has one) that runs PROGRAM in the env with --gui',
    completeArgs: 'env',
    options: [{ flags: '--bin-dir <DIR>', description: 'where the command goes (default ~/.local/bin)', complete: 'dir' }],
    examples: ['cake export-app debian gimp', 'cake export-app web htop --bin-dir ~/bin'],
  },
  {
    name: 'import',
    args: 'FILE|-',
    summary: 'create an environment from a local tarball, or from stdin with - (same as pull of a file)',
    completeArgs: 'file',
    options: [
      { flags: '--name <NAME>', description: 'name of the new environment (required)', complete: 'none' },
      { flags: '--sha256 <HEX>', description: 'pin the file\'s sha256', complete: 'none' },
      { flags: '--force', description: 'replace an existing environment of that name' },
    ],
    examples: ['cake import web.tar.zst --name web2', 'docker export c | cake import - --name c'],
  },
  {
    name: 'push',
    args: 'NAME docker://REGISTRY/REPO:TAG',
    summary: 'push an environment as an OCI image to a registry',
    completeArgs: 'env',
    options: [],
    examples: ['cake push web docker://127.0.0.1:5000/web:1.0'],
  },
  {
    name: 'cook',
    args: 'RECIPE.yaml',
    summary: 'build an environment from a recipe, with a step cache',
    completeArgs: 'file',
    options: [
      { flags: '--name <NAME>', description: 'name of the environment (default: the recipe\'s name)', complete: 'none' },
      { flags: '--no-cache', description: 'rebuild every step' },
      { flags: '--locked', description: 'use only what RECIPE.lock pins; resolve nothing new' },
      { flags: '--engine <ENGINE>', description: 'how to run steps: auto (default), userns or proot', choices: ['auto', 'userns', 'proot'] },
      { flags: '--bake <IMAGE>', description: "then bake the env into IMAGE as the recipe's image: section says", complete: 'file' },
    ],
    examples: ['cake cook examples/web.yaml', 'cake cook web.yaml --name web --locked', 'cake cook vm.yaml --bake vm.img'],
  },
  {
    name: 'add',
    args: 'NAME',
    summary: 'copy binaries into an environment with everything they need to run',
    completeArgs: 'env',
    options: [
      { flags: '--from <OTHER:/PATH>', description: 'from another environment (repeatable)', repeatable: true, complete: 'none' },
      { flags: '--nix <STOREPATH>', description: 'a Nix store path and its closure (repeatable)', repeatable: true, complete: 'file' },
      { flags: '--host <PATH>', description: 'from the host (repeatable)', repeatable: true, complete: 'file' },
    ],
    examples: ['cake add alpine --from debian:/usr/bin/gawk', 'cake add alpine --host /usr/bin/jq'],
  },
  {
    name: 'bake',
    args: 'NAME',
    summary: 'bake an environment into a bootable disk image',
    completeArgs: 'env',
    options: [
      { flags: '-o, --output <IMAGE>', description: 'the image file to write', complete: 'file' },
      { flags: '--format <FORMAT>', description: 'raw (default) or qcow2', choices: ['raw', 'qcow2'] },
      { flags: '--boot <BOOT>', description: 'bios, efi or both (default: both)', choices: ['bios', 'efi', 'both'] },
      { flags: '--size <SIZE>', description: 'image size (e.g. 2G) or auto (default)', complete: 'none' },
      { flags: '--kernel <SPEC>', description: 'debian (default), env, or a bzImage path', complete: 'file' },
      { flags: '--modules <DIR>', description: 'kernel modules directory for --kernel PATH, or extra modules', complete: 'dir' },
      { flags: '--cmdline <ARGS>', description: 'extra kernel command line', complete: 'none' },
      { flags: '--ssh-key <FILE>', description: 'authorized_keys for root', complete: 'file' },
      { flags: '--hostname <NAME>', description: 'hostname (default: the env name)', complete: 'none' },
      { flags: '--password <PASSWORD>', description: 'set a root password (insecure; only when asked)', complete: 'none' },
    ],
    examples: ['cake bake web -o web.img --ssh-key ~/.ssh/id_ed25519.pub', 'cake bake web -o web.qcow2 --format qcow2 --boot efi'],
  },
  {
    name: 'boot',
    args: 'IMAGE [-- QEMU ARGS]',
    summary: 'boot a baked image in QEMU (KVM when usable, TCG otherwise)',
    completeArgs: 'file',
    options: [
      { flags: '--expect <TEXT>', description: 'exit 0 when TEXT appears on the console (1 on timeout)', complete: 'none' },
      { flags: '--timeout <SECONDS>', description: 'stop the guest after this long (default 300 with --expect)', complete: 'none' },
      { flags: '--watchdog <SECONDS>', description: 'stop a guest that prints nothing this long before its login prompt (default 300; 0: off)', complete: 'none' },
      { flags: '--memory <MiB>', description: 'guest memory (default 1024)', complete: 'none' },
    ],
    examples: ['cake boot web.img', 'cake boot web.img --expect "login:" --timeout 300'],
  },
  {
    name: 'distros',
    args: '',
    summary: 'list the known distributions and their releases',
    options: [
      { flags: '--json', description: 'machine-readable output' },
      { flags: '-q, --quiet', description: 'print only what `cake pull` takes: NAME and NAME:RELEASE' },
    ],
    examples: ['cake distros', 'cake distros --json'],
  },
  {
    name: 'doctor',
    args: '',
    summary: 'check the host tools and the engines, with install hints',
    options: [{ flags: '--json', description: 'machine-readable output' }],
    examples: ['cake doctor'],
  },
  {
    name: 'gc',
    args: '',
    summary: 'remove unreferenced blobs, leftovers of interrupted commands and stale caches',
    aliases: ['prune'],
    options: [],
    examples: ['cake gc'],
  },
  {
    name: 'config',
    args: 'list | get KEY | set KEY VALUE | unset KEY',
    summary: 'show or change the user configuration (CAKE_* variables override it)',
    completeArgs: 'none',
    options: [{ flags: '--json', description: 'machine-readable output (list)' }],
    examples: ['cake config list', 'cake config set engine proot', 'cake config set default-env alpine', 'cake config get debian-mirror'],
  },
  {
    name: 'help',
    args: '[COMMAND]',
    summary: 'show help for cake or one command',
    completeArgs: 'command',
    options: [],
    examples: ['cake help pull'],
  },
];

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { flags: '-v, --verbose', description: 'say more on stderr (engine choice, resolved digests)' },
  { flags: '--insecure', description: 'allow plain HTTP to registries outside 127.0.0.0/8 and localhost' },
  { flags: '--version', description: 'print the version' },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/**
 * Peers' verbs cake does not take as aliases (their meaning differs) → the hint naming cake's
 * verb. An unknown command gets this pointer instead of a "did you mean" to an unrelated verb.
 */
export const COMMAND_POINTERS: Readonly<Record<string, string>> = {
  install: 'to create an environment, use `cake pull SOURCE` (see `cake distros`); to add packages, `cake exec NAME apt-get install PKG`',
  run: 'use `cake exec NAME CMD [ARG...]` to run a command, or `cake enter NAME` for a shell',
  sh: 'use `cake enter NAME` for a shell, or `cake exec NAME CMD`',
  bash: 'use `cake enter NAME` for a shell, or `cake exec NAME CMD`',
  attach: 'use `cake enter NAME` for a shell in an environment',
  create: 'use `cake pull SOURCE --name NAME` (or `cake cook RECIPE.yaml`)',
  backup: 'use `cake export NAME FILE.tar.zst` (and `cake import FILE --name NAME` to restore)',
  restore: 'use `cake import FILE --name NAME` (from a `cake export` tarball)',
  save: 'use `cake export NAME FILE.tar.zst`, or `cake push NAME docker://REGISTRY/REPO:TAG`',
  load: 'use `cake import FILE --name NAME`',
  reset: 'use `cake pull SOURCE --name NAME --force` to replace an environment with a fresh copy',
  'clear-cache': 'use `cake gc`',
  clean: 'use `cake gc`',
  delete: 'use `cake rm NAME...`',
  rmi: 'use `cake rm NAME...`',
  mv: 'use `cake rename OLD NEW`',
  copy: 'use `cake clone OLD NEW` to copy an environment',
  logout: 'leave a shell started by `cake enter` with `exit` (or Ctrl-D)',
  exit: 'leave a shell started by `cake enter` with `exit` (or Ctrl-D)',
  stop: 'cake runs no daemons: a command stops when it exits; Ctrl-C stops it',
  build: 'use `cake cook RECIPE.yaml` to build an environment (`cake bake NAME` makes a disk image)',
  search: 'use `cake distros` for the known distributions',
  version: 'use `cake --version`',
};
