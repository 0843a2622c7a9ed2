/**
 * Option specs of the command table (command-table.ts) that are long enough to stand alone:
 * the options of the run commands and of `cake pull`.
 */
import { VARIANTS } from '../model/names.js';
import type { OptionSpec } from './command-table.js';

/** The options of the commands that run something in an env (enter, exec). */
export const RUN_OPTIONS: readonly OptionSpec[] = [
  { flags: '-b, --bind <SRC[:DST[:ro]]>', description: 'bind a host path into the env; :ro makes it read-only (repeatable)', repeatable: true, complete: 'file', aliases: ['-v', '--volume'] },
  { flags: '-w, --cwd <DIR>', description: 'working directory inside the env (absolute)', complete: 'none', aliases: ['--workdir', '--work-dir'] },
  { flags: '-e, --env <K=V>', description: 'set a variable inside the env (repeatable)', repeatable: true, complete: 'none' },
  { flags: '--env-file <FILE>', description: 'read K=V lines from a host file (repeatable; # comments)', repeatable: true, complete: 'file' },
  { flags: '-u, --user <USER>', description: 'run as this guest user (name or uid[:gid]); default root', complete: 'none' },
  { flags: '--hostname <NAME>', description: 'hostname inside the env (default: the env name; userns engine)', complete: 'none' },
  { flags: '--isolated', description: 'do not bind $HOME and the host /tmp' },
  { flags: '--gui', description: 'let GUI and sound programs reach the host\'s display: DISPLAY, WAYLAND_DISPLAY, XDG_RUNTIME_DIR (bound), PULSE_SERVER' },
  { flags: '--engine <ENGINE>', description: 'how to run: auto (default), userns or proot', choices: ['auto', 'userns', 'proot'] },
];

/** The options of `cake pull`. */
export const PULL_OPTIONS: readonly OptionSpec[] = [
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
];
