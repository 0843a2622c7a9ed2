/**
 * The command table: the one description of cake's command-line interface. Commander is
 * configured from it, and so are `cake help`, the man page and the shell completions
 * (`npm run gen`; a test fails when the generated files are stale). The command contract (README.md, cake(1))
 * is public: extend it, never rename or remove.
 */
import type { CommandName, CommandOptions, Handler } from './command-types.js';
import { ADD_OPTIONS, BAKE_OPTIONS, BOOT_OPTIONS, COOK_OPTIONS, PULL_OPTIONS, RUN_OPTIONS } from './command-options.js';

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
  /** Commander's arguments, where they differ from what `args` shows (`<NAME>` for exec's `NAME [CMD [ARG...]]`). */
  arguments?: readonly string[];
  options: readonly OptionSpec[];
  examples: readonly string[];
}


export const TABLE = [
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
    arguments: ['[NAME]'],
  },
  {
    name: 'exec',
    args: 'NAME [CMD [ARG...]]',
    summary: 'run a command in an environment; its exit code is cake\'s',
    completeArgs: 'env',
    options: [...RUN_OPTIONS, { flags: '--rm', description: 'run in a throw-away copy of the env, removed afterwards' }],
    examples: ['cake exec alpine cat /etc/os-release', 'cake exec web -e DEBUG=1 sh -c \'echo $DEBUG\'', 'cake exec web --rm -- apt-get install -y curl'],
    arguments: ['<NAME>'],
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
    options: COOK_OPTIONS,
    examples: ['cake cook examples/web.yaml', 'cake cook web.yaml --name web --locked', 'cake cook vm.yaml --bake vm.img'],
  },
  {
    name: 'add',
    args: 'NAME',
    summary: 'copy binaries into an environment with everything they need to run',
    completeArgs: 'env',
    options: ADD_OPTIONS,
    examples: ['cake add alpine --from debian:/usr/bin/gawk', 'cake add alpine --host /usr/bin/jq'],
  },
  {
    name: 'bake',
    args: 'NAME',
    summary: 'bake an environment into a bootable disk image',
    completeArgs: 'env',
    options: BAKE_OPTIONS,
    examples: ['cake bake web -o web.img --ssh-key ~/.ssh/id_ed25519.pub', 'cake bake web -o web.qcow2 --format qcow2 --boot efi'],
  },
  {
    name: 'boot',
    args: 'IMAGE [-- QEMU ARGS]',
    summary: 'boot a baked image in QEMU (KVM when usable, TCG otherwise)',
    completeArgs: 'file',
    options: BOOT_OPTIONS,
    examples: ['cake boot web.img', 'cake boot web.img --expect "login:" --timeout 300'],
    arguments: ['<IMAGE>', '[QEMU_ARGS...]'],
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
    arguments: ['[ACTION]', '[KEY]', '[VALUE...]'],
  },
  {
    name: 'help',
    args: '[COMMAND]',
    summary: 'show help for cake or one command',
    completeArgs: 'command',
    options: [],
    examples: ['cake help pull'],
  },
] as const satisfies readonly CommandSpec[];

export const COMMANDS: readonly CommandSpec[] = TABLE;

/**
 * Each command's handler, loaded lazily so that start-up pays only for the command that runs. The
 * type makes it exhaustive and ties each handler to its command's options (CommandOptions).
 */
export const LOADERS: { readonly [N in CommandName]: () => Promise<Handler<CommandOptions<N>>> } = {
  pull: () => import('./commands/pull.js').then((m) => m.pullCommand),
  enter: () => import('./commands/run.js').then((m) => m.enterCommand),
  exec: () => import('./commands/run.js').then((m) => m.execCommand),
  list: () => import('./commands/list.js').then((m) => m.listCommand),
  inspect: () => import('./commands/list.js').then((m) => m.inspectCommand),
  clone: () => import('./commands/manage.js').then((m) => m.cloneCommand),
  cp: () => import('./commands/cp.js').then((m) => m.cpCommand),
  rm: () => import('./commands/manage.js').then((m) => m.rmCommand),
  rename: () => import('./commands/manage.js').then((m) => m.renameCommand),
  export: () => import('./commands/export.js').then((m) => m.exportCommand),
  'export-app': () => import('./commands/export-app.js').then((m) => m.exportAppCommand),
  import: () => import('./commands/pull.js').then((m) => m.importCommand),
  push: () => import('./commands/push.js').then((m) => m.pushCommand),
  cook: () => import('./commands/cook.js').then((m) => m.cookCommand),
  add: () => import('./commands/add.js').then((m) => m.addCommand),
  bake: () => import('./commands/bake.js').then((m) => m.bakeCommand),
  boot: () => import('./commands/boot.js').then((m) => m.bootCommand),
  distros: () => import('./commands/distros.js').then((m) => m.distrosCommand),
  doctor: () => import('./commands/doctor.js').then((m) => m.doctorCommand),
  gc: () => import('./commands/gc.js').then((m) => m.gcCommand),
  config: () => import('./commands/config.js').then((m) => m.configCommand),
};

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { flags: '-v, --verbose', description: 'say more on stderr (engine choice, resolved digests)' },
  { flags: '--insecure', description: 'allow plain HTTP to registries outside 127.0.0.0/8 and localhost' },
  { flags: '--version', description: 'print the version' },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
