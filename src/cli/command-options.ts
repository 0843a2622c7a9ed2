/**
 * Option specs of the command table (command-table.ts) that are long enough to stand alone:
 * the options of the run commands, of `cake pull`, `cook`, `add`, `bake` and `boot`.
 */
import { VARIANTS } from '../model/names.js';
import type { OptionSpec } from './command-table.js';

/** The options of the commands that run something in an env (enter, exec). */
export const RUN_OPTIONS = [
  { flags: '-b, --bind <SRC[:DST[:ro]]>', description: 'bind a host path into the env; :ro makes it read-only (repeatable)', repeatable: true, complete: 'file', aliases: ['-v', '--volume'] },
  { flags: '-w, --cwd <DIR>', description: 'working directory inside the env (absolute)', complete: 'none', aliases: ['--workdir', '--work-dir'] },
  { flags: '-e, --env <K=V>', description: 'set a variable inside the env (repeatable)', repeatable: true, complete: 'none' },
  { flags: '--env-file <FILE>', description: 'read K=V lines from a host file (repeatable; # comments)', repeatable: true, complete: 'file' },
  { flags: '-u, --user <USER>', description: 'run as this guest user (name or uid[:gid]); default root', complete: 'none' },
  { flags: '--hostname <NAME>', description: 'hostname inside the env (default: the env name; userns engine)', complete: 'none' },
  { flags: '--isolated', description: 'do not bind $HOME and the host /tmp' },
  { flags: '--gui', description: 'let GUI and sound programs reach the host\'s display: DISPLAY, WAYLAND_DISPLAY, XDG_RUNTIME_DIR (bound), PULSE_SERVER' },
  { flags: '--engine <ENGINE>', description: 'how to run: auto (default), userns or proot', choices: ['auto', 'userns', 'proot'] },
] as const satisfies readonly OptionSpec[];

/** The options of `cake pull`. */
export const PULL_OPTIONS = [
  { flags: '--name <NAME>', description: 'name of the new environment (default: derived from SOURCE)', complete: 'none' },
  { flags: '--platform <OS/ARCH[/VARIANT]>', description: 'platform to pull (default: the host\'s)', complete: 'none' },
  { flags: '--sha256 <HEX>', description: 'pin the source\'s sha256; a mismatch installs nothing', complete: 'none' },
  { flags: '--force', description: 'replace an existing environment of that name' },
  { flags: '--packages <PKG,...>', description: 'Debian/Ubuntu archive sources: extra packages to install (repeatable, comma-separated)', repeatable: true, complete: 'none' },
  { flags: '--variant <VARIANT>', description: 'Debian/Ubuntu archive sources: package set', choices: [...VARIANTS] },
  { flags: '--recommends', description: 'Debian/Ubuntu archive sources: install Recommends too' },
  { flags: '--expect-sha256 <HEX>', description: 'the tree hash the new environment must have (as `cake pull` prints it); a mismatch installs nothing', complete: 'none' },
  { flags: '--lock <FILE>', description: 'Debian/Ubuntu archive sources: write the InRelease digests and the exact package set to FILE', complete: 'file' },
  { flags: '--locked <FILE>', description: 'rebuild exactly what FILE locks (from the mirror, or snapshot.debian.org when it moved on); SOURCE may be omitted', complete: 'file' },
  { flags: '--allow-expired', description: 'Debian/Ubuntu archive sources: accept a Release past its Valid-Until (signatures still verified)' },
] as const satisfies readonly OptionSpec[];

/** The options of `cake cook`. */
export const COOK_OPTIONS = [
  { flags: '--name <NAME>', description: 'name of the environment (default: the recipe\'s name)', complete: 'none' },
  { flags: '--no-cache', description: 'rebuild every step' },
  { flags: '--locked', description: 'use only what RECIPE.lock pins; resolve nothing new' },
  { flags: '--engine <ENGINE>', description: 'how to run steps: auto (default), userns or proot', choices: ['auto', 'userns', 'proot'] },
  { flags: '--bake <IMAGE>', description: "then bake the env into IMAGE as the recipe's image: section says", complete: 'file' },
] as const satisfies readonly OptionSpec[];

/** The options of `cake add`. */
export const ADD_OPTIONS = [
  { flags: '--from <OTHER:/PATH>', description: 'from another environment (repeatable)', repeatable: true, complete: 'none' },
  { flags: '--nix <STOREPATH>', description: 'a Nix store path and its closure (repeatable)', repeatable: true, complete: 'file' },
  { flags: '--host <PATH>', description: 'from the host (repeatable)', repeatable: true, complete: 'file' },
] as const satisfies readonly OptionSpec[];

/** The options of `cake bake`. */
export const BAKE_OPTIONS = [
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
] as const satisfies readonly OptionSpec[];

/** The options of `cake boot`. */
export const BOOT_OPTIONS = [
  { flags: '--expect <TEXT>', description: 'exit 0 when TEXT appears on the console (1 on timeout)', complete: 'none' },
  { flags: '--timeout <SECONDS>', description: 'stop the guest after this long (default 300 with --expect)', complete: 'none' },
  { flags: '--watchdog <SECONDS>', description: 'stop a guest that prints nothing this long before its login prompt (default 300; 0: off)', complete: 'none' },
  { flags: '--memory <MiB>', description: 'guest memory (default 1024)', complete: 'none' },
] as const satisfies readonly OptionSpec[];
