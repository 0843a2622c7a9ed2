import type { StdioOptions } from 'node:child_process';
import { machine } from 'node:os';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { isForeignArch } from './arch.js';
import { BINFMT_DIR, describeRunner, requireForeignRunner } from './foreign.js';
import { findUsernsTools } from './host-tools.js';
import { involvesTerminal, prepareLaunch } from './launch.js';
import { preparePlan } from './prepare.js';
import type { ProotTool } from './proot-argv.js';
import { selectProot } from './proot-select.js';
import type { KitProvider } from './kit-provider.js';
import { runRecordingOwnership, type OwnershipRecording } from './ownership-recorder.js';
import type { EngineName, RunOptions } from '../model/run-options.js';
import { firstFailure, selfCheck, type SelfCheckResult } from './self-check.js';
import { spawnGuest } from './spawn-guest.js';

/** What the store knows about an env. */
export interface GuestEnv {
  name: string;
  /** Absolute host path of the root filesystem. */
  rootfs: string;
  /**
   * Distro arch name (x86_64, aarch64, ...); a foreign one runs under userns where the kernel has a
   * binfmt_misc handler for it (F flag), else under proot -q qemu-<arch> (foreign.ts).
   */
  arch?: string;
  /** OCI-style defaults. `env` and `workingDir` are used; `user`, `cmd`, `entrypoint` are not (cake runs as root unless --user). */
  config?: { env?: string[]; workingDir?: string; user?: string; cmd?: string[]; entrypoint?: string[] };
}

export interface EngineDeps {
  logger: Logger;
  /** The host's environment (HOME, TERM, PATH to find tools); nothing else of it reaches the guest. */
  hostEnv: Record<string, string | undefined>;
  /** Where self-check results (and fake /proc files) are kept. */
  cacheDir: string;
  /** Aborting sends the guest SIGTERM (SIGKILL 5 s later) and rejects with CakeError('interrupted'). */
  signal?: AbortSignal;
  /** Extension: the guest's stdio; default 'inherit' (cake's own fds, the terminal for enter). */
  stdio?: StdioOptions;
  /**
   * Extension: the kits (src/kit), so that the proot engine finds a proot provisioned earlier and
   * can provision one from the Debian archive when no proot passes the self-check (it prints one
   * line, once per host). Without it only CAKE_PROOT and the system's proot are tried.
   */
  kits?: KitProvider;
  /**
   * Extension: record what the command does to ownership (chown, chmod, mknod) into this table,
   * through the env's fakeroot kit (see ownership-recorder.ts); the command runs unrecorded where
   * that cannot work (--user, a foreign architecture), with a debug message.
   */
  recordOwnership?: OwnershipRecording;
  /** Extension: where binfmt_misc handlers are read (default /proc/sys/fs/binfmt_misc; tests give a fixture). */
  binfmtDir?: string;
}

export interface EngineChoice {
  engine: 'userns' | 'proot';
  binary: string;
  reason: string;
  checks: SelfCheckResult[];
  /** Extension: for proot, whether seccomp acceleration is on (else PROOT_NO_SECCOMP=1). */
  seccomp?: boolean;
}

interface Selection extends EngineChoice {
  proot?: ProotTool;
}

const USERNS_HINT =
  'use --engine proot, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0, or the AppArmor userns restriction)';

async function selectUserns(deps: EngineDeps): Promise<Selection> {
  const tools = await findUsernsTools(deps.hostEnv);
  const checks = await selfCheck('userns', tools.unshare, {}, deps);
  const bad = firstFailure(checks);
  if (bad) {
    throw new CakeError('engine', `user namespaces failed the self-check: ${bad.detail}`, { hint: USERNS_HINT });
  }
  return { engine: 'userns', binary: tools.unshare, reason: 'unprivileged user namespaces pass the self-check', checks };
}

async function selectProotEngine(deps: EngineDeps): Promise<Selection> {
  const s = await selectProot(deps);
  return { engine: 'proot', binary: s.binary, reason: s.reason, checks: s.checks, seccomp: s.seccomp, proot: s.tool };
}

/**
 * Which engine `requested` resolves to on this host and why (for `cake doctor` and --verbose).
 * `auto`: for a foreign-architecture env userns where binfmt_misc runs it, else proot (selectForeign); else userns when it passes the self-check, else
 * proot. An explicit engine that cannot work is a CakeError('engine') naming the failed check
 * (or 'missing-tool'). Self-checks are cached (see selfCheck), so this is cheap after the first
 * call on a host.
 */
export async function chooseEngine(requested: EngineName, deps: EngineDeps, env?: GuestEnv): Promise<EngineChoice> {
  const { proot: _tool, ...choice } = await select(requested, deps, env);
  return choice;
}

async function select(requested: EngineName, deps: EngineDeps, env?: GuestEnv): Promise<Selection> {
  if (env !== undefined && isForeignArch(env.arch, machine())) return selectForeign(requested, deps, env as GuestEnv & { arch: string });
  if (requested === 'userns') return selectUserns(deps);
  if (requested === 'proot') return selectProotEngine(deps);
  let usernsError: CakeError;
  try {
    return await selectUserns(deps);
  } catch (err) {
    if (!(err instanceof CakeError) || err.code === 'interrupted') throw err;
    usernsError = err;
  }
  try {
    const s = await selectProotEngine(deps);
    return { ...s, reason: `${usernsError.message}; ${s.reason}` };
  } catch (err) {
    if (!(err instanceof CakeError) || err.code === 'interrupted') throw err;
    throw new CakeError('engine', `no engine works on this host: ${usernsError.message}; ${err.message}`, {
      hint: 'enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or install proot 5.4 or newer',
      cause: err,
    });
  }
}

/**
 * A foreign-architecture guest: userns when the kernel runs its programs (binfmt_misc with the F
 * flag), else the proot cake checks (never one that fails the self-check) with qemu-user's -q.
 * qemu-user missing altogether is a one-line CakeError('missing-tool') before any proot is tried.
 */
async function selectForeign(requested: EngineName, deps: EngineDeps, env: GuestEnv & { arch: string }): Promise<Selection> {
  const runner = await requireForeignRunner(env.arch, machine(), deps.hostEnv, deps.binfmtDir ?? BINFMT_DIR);
  const why = `env ${env.name} is ${env.arch}: ${describeRunner(runner, env.arch)}`;
  if (requested === 'userns' && runner.kind !== 'binfmt') {
    throw new CakeError('engine', `the userns engine cannot run ${env.arch} programs on this ${machine()} host: the kernel has no binfmt_misc handler for them`, {
      hint: 'use --engine proot (it runs them through qemu-user), or register qemu-user-static\'s handlers (update-binfmts --enable)',
    });
  }
  if (runner.kind === 'binfmt' && requested !== 'proot') {
    try {
      const s = await selectUserns(deps);
      return { ...s, reason: `${why}; ${s.reason}` };
    } catch (err) {
      if (requested === 'userns' || !(err instanceof CakeError) || err.code === 'interrupted') throw err;
      deps.logger.debug(`${err.message}; trying proot`);
    }
  }
  const s = await selectProotEngine(deps);
  return { ...s, reason: `${why}; ${s.reason}` };
}

/**
 * Runs argv (empty => the user's login shell with `-l`) inside env, as root unless opts.user, in
 * a clean environment, and resolves with the command's exit code (128+N when it died of signal
 * N); SIGTERM, SIGHUP, SIGUSR1/2 to cake reach the guest, and with a terminal Ctrl-C reaches it
 * directly while cake ignores it (see spawnGuest). Bad options are UsageErrors (exit 2); a
 * command not found is CakeError('not-found', exit 127); engine or spawn failures
 * CakeError('engine' | 'missing-tool').
 *
 * What the guest shares with the host (README "What an env shares with the host"): by default
 * the host's $HOME and /tmp (bound read-write) and the network; `opts.isolated` drops $HOME and
 * /tmp (the env's own /tmp is used). Always private: /dev (null zero full random urandom tty, a
 * new pts instance, its own /dev/shm), and on userns a /proc of the env's own PID namespace
 * (host processes are invisible; /proc/sys read-only) and a read-only /sys. When the command
 * ends, everything it started ends too (userns: its PID namespace; proot: --kill-on-exit).
 * Guest variables reach no host program (command.ts); loader variables (LD_*, PROOT_*) of the
 * image config or recipe are dropped with a warning, `--env` ones apply inside the guest.
 *
 * Files cake needs in the env for the run (missing mount points under userns, the host's DNS
 * files where the guest has none) are created through a walk that refuses symlinks and removed
 * after the run (run-dir.ts): nothing of the run stays in the env.
 *
 * proot reports a guest's death by a signal it gave itself as 255 (proot's own limitation); one
 * that came through cake is reported as 128+N.
 *
 * With `deps.recordOwnership`, what the command does to ownership goes into that table (and its
 * onChange): see ownership-recorder.ts.
 */
export async function runInEnv(env: GuestEnv, argv: string[], opts: RunOptions, deps: EngineDeps): Promise<number> {
  if (deps.recordOwnership !== undefined) {
    const { recordOwnership, ...plain } = deps;
    return runRecordingOwnership(env, opts, recordOwnership, plain, (o) => runInEnv(env, argv, o, plain));
  }
  const sel = await select(opts.engine, deps, env);
  deps.logger.debug(`engine ${sel.engine} (${sel.binary}): ${sel.reason}`);
  const plan = await preparePlan(env, argv, opts, { ...deps, emulate: sel.engine === 'proot' });
  const terminal = involvesTerminal(opts.tty, deps.stdio);
  const launch = await prepareLaunch(plan, sel, { cacheDir: deps.cacheDir, hostEnv: deps.hostEnv, terminal });
  const common = { tty: opts.tty, logger: deps.logger, ...(deps.signal ? { signal: deps.signal } : {}), ...(deps.stdio ? { stdio: deps.stdio } : {}) };
  deps.logger.debug(`run: ${[launch.cmd.file, ...launch.cmd.args].join(' ')}`);
  try {
    return await spawnGuest(launch.cmd, { ...common, target: sel.engine === 'userns' ? 'child' : 'proot-tracee' });
  } finally {
    launch.finish();
  }
}
