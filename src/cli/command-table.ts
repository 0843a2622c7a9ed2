/**
 * The command table: the one description of cake's command-line interface. Commander is
 * configured from it, and so are `cake help`, the man page and the shell completions
 * (`npm run gen`; a test fails when the generated files are stale). The contract in DESIGN.md
 * is public: extend it, never rename or remove.
 */
export interface OptionSpec {
  /** Commander flags, e.g. `--bind <SRC[:DST]>` or `-o, --output <IMAGE>`. */
  flags: string;
  description: string;
  /** May be given several times (collected into an array). */
  repeatable?: boolean;
  choices?: readonly string[];
  /** For completions: what the value is. */
  complete?: 'file' | 'dir' | 'env' | 'source' | 'none';
}

export interface CommandSpec {
  name: string;
  /** Positional arguments as shown in usage, e.g. `SOURCE` or `NAME [-- CMD [ARG...]]`. */
  args: string;
  summary: string;
  /** For completions: what positionals are. */
  completeArgs?: 'env' | 'source' | 'file' | 'command' | 'none';
  options: readonly OptionSpec[];
  examples: readonly string[];
}

export const RUN_OPTIONS: readonly OptionSpec[] = [
  { flags: '--bind <SRC[:DST]>', description: 'bind a host path into the env (repeatable)', repeatable: true, complete: 'file' },
  { flags: '--cwd <DIR>', description: 'working directory inside the env', complete: 'none' },
  { flags: '--env <K=V>', description: 'set a variable inside the env (repeatable)', repeatable: true, complete: 'none' },
  { flags: '--user <USER>', description: 'run as this guest user (name or uid[:gid]); default root', complete: 'none' },
  { flags: '--isolated', description: 'do not bind $HOME and the host /tmp' },
  { flags: '--engine <ENGINE>', description: 'how to run: auto (default), userns or proot', choices: ['auto', 'userns', 'proot'] },
];

const PULL_OPTIONS: readonly OptionSpec[] = [
  { flags: '--name <NAME>', description: 'name of the new environment (default: derived from SOURCE)', complete: 'none' },
  { flags: '--platform <OS/ARCH[/VARIANT]>', description: 'platform to pull (default: the host\'s)', complete: 'none' },
  { flags: '--sha256 <HEX>', description: 'pin the source\'s sha256; a mismatch installs nothing', complete: 'none' },
  { flags: '--force', description: 'replace an existing environment of that name' },
  { flags: '--packages <PKG,...>', description: 'Debian/Ubuntu archive sources: extra packages to install (repeatable, comma-separated)', repeatable: true, complete: 'none' },
  { flags: '--variant <VARIANT>', description: 'Debian/Ubuntu archive sources: package set', choices: ['essential', 'minbase', 'standard'] },
  { flags: '--recommends', description: 'Debian/Ubuntu archive sources: install Recommends too' },
  { flags: '--expect-sha256 <HEX>', description: 'the tree hash the new environment must have (as `cake pull` prints it); a mismatch installs nothing', complete: 'none' },
  { flags: '--lock <FILE>', description: 'Debian/Ubuntu archive sources: write the InRelease digests and the exact package set to FILE', complete: 'file' },
  { flags: '--locked <FILE>', description: 'rebuild exactly what FILE locks (from the mirror, or snapshot.debian.org when it moved on); SOURCE may be omitted', complete: 'file' },
  { flags: '--allow-expired', description: 'Debian/Ubuntu archive sources: accept a Release past its Valid-Until (signatures still verified)' },
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'pull',
    args: '[SOURCE]',
    summary: 'create an environment from a distro, registry image, OCI layout, URL or tarball',
    completeArgs: 'source',
    options: PULL_OPTIONS,
    examples: [
      'cake pull alpine',
      'cake pull debian:bookworm --name web',
      'cake pull https://example.org/rootfs.tar.xz --sha256 0123…',
      'cake pull ./rootfs.tar.gz --name mine',
    ],
  },
  {
    name: 'enter',
    args: 'NAME',
    summary: 'open an interactive login shell in an environment (pulls a known distro first)',
    completeArgs: 'env',
    options: RUN_OPTIONS,
    examples: ['cake enter alpine', 'cake enter web --bind ~/src:/src --cwd /src'],
  },
  {
    name: 'exec',
    args: 'NAME -- CMD [ARG...]',
    summary: 'run a command in an environment; its exit code is cake\'s',
    completeArgs: 'env',
    options: RUN_OPTIONS,
    examples: ['cake exec alpine -- cat /etc/os-release', 'cake exec web --env DEBUG=1 -- sh -c \'echo $DEBUG\''],
  },
  {
    name: 'list',
    args: '',
    summary: 'list environments',
    options: [{ flags: '--json', description: 'machine-readable output' }],
    examples: ['cake list', 'cake list --json'],
  },
  {
    name: 'rm',
    args: 'NAME...',
    summary: 'remove environments, whatever the modes of their files',
    completeArgs: 'env',
    options: [],
    examples: ['cake rm web old'],
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
    args: 'NAME FILE.tar[.gz|.zst]',
    summary: 'write an environment as a tarball with its real ownership',
    completeArgs: 'env',
    options: [],
    examples: ['cake export web web.tar.zst'],
  },
  {
    name: 'import',
    args: 'FILE',
    summary: 'create an environment from a local tarball (same as pull of a file)',
    completeArgs: 'file',
    options: [
      { flags: '--name <NAME>', description: 'name of the new environment (required)', complete: 'none' },
      { flags: '--sha256 <HEX>', description: 'pin the file\'s sha256', complete: 'none' },
      { flags: '--force', description: 'replace an existing environment of that name' },
    ],
    examples: ['cake import web.tar.zst --name web2'],
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
    ],
    examples: ['cake cook examples/web.yaml', 'cake cook web.yaml --name web --locked'],
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
      { flags: '--timeout <SECONDS>', description: 'give up after this long (with --expect)', complete: 'none' },
      { flags: '--memory <MiB>', description: 'guest memory (default 1024)', complete: 'none' },
    ],
    examples: ['cake boot web.img', 'cake boot web.img --expect "login:" --timeout 300'],
  },
  {
    name: 'distros',
    args: '',
    summary: 'list the known distributions and their releases',
    options: [{ flags: '--json', description: 'machine-readable output' }],
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
    options: [],
    examples: ['cake gc'],
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
