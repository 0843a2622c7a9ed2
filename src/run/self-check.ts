import { spawn } from 'node:child_process';
import { writeFileAtomic } from '../store/atomic-write.js';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { buildCheckRoot, CHECK_SCRIPT, type CheckRoot } from './check-root.js';
import type { HostCommand } from './command.js';
import { prepareLaunch, type Launch } from './launch.js';
import { probeProot } from './proot-tool.js';
import type { RunPlan } from './plan.js';

export interface SelfCheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SelfCheckDeps {
  logger: Logger;
  hostEnv: Record<string, string | undefined>;
  /** Results are cached in `<cacheDir>/self-check/`. */
  cacheDir: string;
  signal?: AbortSignal;
}

/** Bump when the checks change, so cached verdicts of older checks are not trusted. */
const CHECK_VERSION = 4;
const CHECK_TIMEOUT_MS = 30_000;

/**
 * Proves that `engine` run through `binary` in `mode` shows the guest the guest: stat/statx agree
 * with a file's content, new files are visible to stat and ls and belong to the guest user,
 * scripts open by path, /proc/self/exe and the cwd read as guest paths, host files outside the
 * binds are unreachable, and `--user` changes the uid (`change-id`). It runs the HOST's own sh and
 * coreutils in a scratch rootfs (check-root.ts), so it needs no guest and no compiler. A failure
 * to start at all (user namespaces disabled, proot unable to ptrace) is one failed `start` check.
 *
 * Modes: proot takes `seccomp: 'on' | 'off'` (off = PROOT_NO_SECCOMP=1); keys `env:NAME` are
 * variables proot itself needs (a provisioned build's loader). userns takes none.
 *
 * Cached (also failures) in deps.cacheDir keyed by engine, binary path, its size and mtime, the
 * mode, the kernel release and the uid; a new binary, kernel or user runs it again. Safe under
 * concurrency: the last writer of an identical verdict wins.
 */
export async function selfCheck(
  engine: 'userns' | 'proot',
  binary: string,
  mode: Record<string, string>,
  deps: SelfCheckDeps,
): Promise<SelfCheckResult[]> {
  let st;
  try {
    st = await stat(binary);
  } catch {
    return [{ name: 'start', ok: false, detail: `${binary} does not exist` }];
  }
  const key = JSON.stringify({
    v: CHECK_VERSION,
    engine,
    binary,
    size: st.size,
    mtimeMs: st.mtimeMs,
    mode: Object.fromEntries(Object.entries(mode).sort()),
    kernel: release(),
    uid: process.getuid?.() ?? -1,
  });
  const dir = join(deps.cacheDir, 'self-check');
  const file = join(dir, createHash('sha256').update(key).digest('hex').slice(0, 32) + '.json');
  try {
    const cached = JSON.parse(await readFile(file, 'utf8')) as { key: string; results: SelfCheckResult[] };
    if (cached.key === key && Array.isArray(cached.results)) return cached.results;
  } catch {
    // no or unreadable cache entry: run the check
  }
  deps.logger.debug(`self-check of ${engine} (${binary}, ${JSON.stringify(mode)})`);
  const check = await buildCheckRoot(dir, deps.hostEnv);
  let results: SelfCheckResult[];
  try {
    const asRoot = await runChecks(engine, binary, mode, check, 0, deps);
    results = asRoot;
    if (!asRoot.some((r) => r.name === 'start')) {
      const asUser = await runChecks(engine, binary, mode, check, 1, deps);
      const owner = asUser.find((r) => r.name === 'owner');
      results = [
        ...asRoot,
        owner
          ? { name: 'change-id', ok: owner.ok, detail: owner.ok ? 'a command runs as the requested uid' : owner.detail }
          : { name: 'change-id', ok: false, detail: asUser[0]?.detail ?? 'no result' },
      ];
    }
  } finally {
    await rm(check.root, { recursive: true, force: true });
  }
  // An interrupted check proves nothing either way: never cache it.
  if (deps.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
  await mkdir(dir, { recursive: true });
  writeFileAtomic(file, JSON.stringify({ key, results }, null, 1));
  return results;
}

/** The first failed check, for one-line error messages. */
export function firstFailure(results: readonly SelfCheckResult[]): SelfCheckResult | undefined {
  return results.find((r) => !r.ok);
}

async function runChecks(
  engine: 'userns' | 'proot',
  binary: string,
  mode: Record<string, string>,
  check: CheckRoot,
  uid: number,
  deps: SelfCheckDeps,
): Promise<SelfCheckResult[]> {
  const plan: RunPlan = {
    root: check.root,
    // The script goes in as text: a proot that cannot open scripts by path must still report the rest.
    argv: ['/bin/sh', '-c', CHECK_SCRIPT, 'cake-check', check.root, String(check.passwdSize), String(check.hostPasswdSize ?? '-'), String(uid)],
    cwd: '/cake-check',
    user: { name: uid === 0 ? 'root' : String(uid), uid, gid: uid, home: '/root', shell: '/bin/sh' },
    env: { PATH: '/usr/bin:/bin', HOME: '/root', LC_ALL: 'C' },
    mounts: [],
  };
  let launch: Launch;
  try {
    if (engine === 'userns') {
      launch = await prepareLaunch(plan, { engine, binary }, { cacheDir: deps.cacheDir, hostEnv: deps.hostEnv, terminal: false });
    } else {
      const toolEnv = Object.fromEntries(
        Object.entries(mode)
          .filter(([k]) => k.startsWith('env:'))
          .map(([k, v]) => [k.slice(4), v]),
      );
      const tool = await probeProot({ binary, env: toolEnv, origin: 'system' });
      launch = await prepareLaunch(plan, { engine, binary, proot: tool, seccomp: mode.seccomp !== 'off' }, { cacheDir: deps.cacheDir, hostEnv: deps.hostEnv, terminal: false });
    }
  } catch (err) {
    if (!(err instanceof CakeError) || err.code === 'interrupted') throw err;
    return [{ name: 'start', ok: false, detail: err.message }];
  }
  let run;
  try {
    run = await runCaptured(launch.cmd, deps.signal);
  } finally {
    launch.finish();
  }
  const results: SelfCheckResult[] = [];
  for (const line of run.stdout.split('\n')) {
    const m = /^([a-z-]+)\|(ok|fail)\|(.*)$/.exec(line);
    if (m) results.push({ name: m[1]!, ok: m[2] === 'ok', detail: m[3]! });
  }
  if (results.length === 0) {
    const why = run.stderr.trim().split('\n')[0] || `exit status ${run.code}`;
    return [{ name: 'start', ok: false, detail: `could not run a command: ${why}` }];
  }
  return results;
}

async function runCaptured(cmd: HostCommand, signal: AbortSignal | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd.file, cmd.args, {
      env: cmd.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: '/',
      timeout: CHECK_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      ...(signal ? { signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => resolve({ code: -1, stdout, stderr: stderr || err.message }));
    child.once('close', (code, sig) => resolve({ code: code ?? 128, stdout, stderr: stderr || (sig ? `killed by ${sig}` : '') }));
  });
}
