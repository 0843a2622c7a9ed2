/**
 * Running the guest's own dpkg during a bootstrap: the .deb files staged inside the tree, the
 * private fakeroot prefix, and guest scripts run through the engine with their output captured in a
 * log file (whose tail becomes the error message when a run fails).
 */
import { closeSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { copyFileKeepingHoles } from '../archive/copy-file.js';
import { extractTar } from '../archive/extract.js';
import { CakeError, isErrno } from '../model/errors.js';
import { runInEnv, type EngineDeps, type GuestEnv } from '../run/engine.js';
import { defaultRunOptions, type EngineName } from '../model/run-options.js';
import { fakerootWrapper } from './bootstrap-fakeroot.js';
import { debFileName, recordKey } from './bootstrap-plan.js';
import { openDeb } from './deb-file.js';
import type { PackageRecord } from './package-index.js';

/** cake's private build directory at the top of the tree (removed when the build ends). */
export const BUILD_DIR = '.cake-bootstrap';
const GUEST_BUILD = `/${BUILD_DIR}`;
export const GUEST_DEBS = `${GUEST_BUILD}/debs`;
const FAKEROOT_PREFIX = `${GUEST_BUILD}/fakeroot`;
export const FAKEROOT_WRAPPER = `${GUEST_BUILD}/fakeroot.sh`;
export const FAKED_SAVE = `${GUEST_BUILD}/faked.save`;
const OWNER_SHIM_PATH = `${GUEST_BUILD}/libcake-owner.so`;

/** The environment of every dpkg run (as mmdebstrap sets it). */
export const DPKG_ENV: Readonly<Record<string, string>> = {
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
  LC_ALL: 'C.UTF-8',
  LANGUAGE: 'C.UTF-8',
  PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
};

/**
 * Puts each record's verified blob into the tree under GUEST_DEBS with apt's file name: a hard link
 * when the store is on the same filesystem, else a copy (reflink or hole-keeping). Returns recordKey → guest path.
 */
export function stageDebs(root: string, records: readonly PackageRecord[], blobPath: (p: PackageRecord) => string): Map<string, string> {
  const dir = join(root, GUEST_DEBS);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const out = new Map<string, string>();
  for (const p of records) {
    const file = debFileName(p);
    const dst = join(dir, file);
    try {
      linkSync(blobPath(p), dst);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        out.set(recordKey(p), `${GUEST_DEBS}/${file}`);
        continue;
      }
      if (!isErrno(err, 'EXDEV') && !isErrno(err, 'EPERM') && !isErrno(err, 'EMLINK')) throw err;
      // a new file (never through a symlink at dst), holes kept
      copyFileKeepingHoles(blobPath(p), dst);
    }
    out.set(recordKey(p), `${GUEST_DEBS}/${file}`);
  }
  return out;
}

/**
 * Extracts the guest's fakeroot and libfakeroot packages into the private prefix and writes the
 * wrapper script; `ownerShim` (run/owner-shim.ts, for the guest's architecture) is preloaded before
 * libfakeroot when given. Returns the wrapper's guest path.
 */
export async function installFakeroot(root: string, debs: readonly string[], signal?: AbortSignal, ownerShim?: Buffer): Promise<string> {
  const prefix = join(root, FAKEROOT_PREFIX);
  mkdirSync(prefix, { recursive: true, mode: 0o755 });
  for (const path of debs) {
    const deb = await openDeb(path, { control: false });
    const stream = await deb.dataStream(signal ? { signal } : {});
    await extractTar(stream, { root: prefix, ownership: {}, ...(signal ? { signal } : {}) });
  }
  const libRel = findLibfakeroot(prefix);
  if (libRel === undefined) {
    throw new CakeError('bad-archive', 'the fakeroot packages hold no libfakeroot-sysv.so', { hint: 'the archive\'s fakeroot/libfakeroot packages are unusual; report this' });
  }
  const wrapper = join(root, FAKEROOT_WRAPPER);
  const before: string[] = [];
  if (ownerShim !== undefined) {
    writeFileSync(join(root, OWNER_SHIM_PATH), ownerShim, { mode: 0o755 });
    before.push(OWNER_SHIM_PATH);
  }
  writeFileSync(wrapper, fakerootWrapper(FAKEROOT_PREFIX, `${FAKEROOT_PREFIX}/${libRel}`, FAKED_SAVE, before), { mode: 0o755 });
  chmodSync(wrapper, 0o755);
  return FAKEROOT_WRAPPER;
}

/** `usr/lib/<triplet>/libfakeroot/libfakeroot-sysv.so` (or `usr/lib/libfakeroot/…`) inside the prefix. */
function findLibfakeroot(prefix: string): string | undefined {
  const base = join(prefix, 'usr/lib');
  const dirs = ['libfakeroot'];
  try {
    for (const d of readdirSync(base)) dirs.push(`${d}/libfakeroot`);
  } catch {
    return undefined;
  }
  for (const d of dirs) {
    try {
      if (readdirSync(join(base, d)).includes('libfakeroot-sysv.so')) return `usr/lib/${d}/libfakeroot-sysv.so`;
    } catch {
      // not there
    }
  }
  return undefined;
}

export interface GuestRunContext {
  env: GuestEnv;
  engine: EngineName;
  engineDeps: Omit<EngineDeps, 'stdio'>;
  /** Host file that collects the output of every guest run. */
  logFile: string;
  /** Variables added to DPKG_ENV (SOURCE_DATE_EPOCH). */
  vars?: Record<string, string>;
}

/**
 * Runs `script` (sh, `set -e`) inside the env as root with DPKG_ENV, isolated, under the fakeroot
 * wrapper when asked (installFakeroot first), output appended to the log.
 * A non-zero exit is CakeError('engine') quoting the log's last lines.
 */
export async function runGuestScript(ctx: GuestRunContext, label: string, script: string, underFakeroot: boolean, packages?: { label: string; count: number }): Promise<void> {
  const name = `${label.replace(/[^a-z0-9-]+/gi, '-')}.sh`;
  // umask 022 whatever the user's: what maintainer scripts create must not depend on it
  writeFileSync(join(ctx.env.rootfs, BUILD_DIR, name), `set -e\numask 022\n${script}`, { mode: 0o755 });
  const fd = openSync(ctx.logFile, 'a');
  const stopCounter = packages ? countSetUp(ctx, packages.label, packages.count) : () => {};
  let code: number;
  try {
    writeSync(fd, `\n### cake: ${label}\n`);
    const opts = defaultRunOptions({ engine: ctx.engine, isolated: true, tty: false, env: { ...DPKG_ENV, ...ctx.vars }, cwd: '/' });
    const argv = ['/bin/sh', `${GUEST_BUILD}/${name}`];
    code = await runInEnv(ctx.env, underFakeroot ? ['/bin/sh', FAKEROOT_WRAPPER, ...argv] : argv, opts, { ...ctx.engineDeps, stdio: ['ignore', fd, fd] });
  } finally {
    stopCounter();
    closeSync(fd);
    await stopFaked(join(ctx.env.rootfs, `${FAKED_SAVE}.pid`));
  }
  if (code !== 0) {
    const tail = logTail(ctx.logFile, 40).filter((l) => l.trim() !== '');
    const why = [...tail].reverse().find((l) => /error|fail|dpkg:/i.test(l)) ?? tail[tail.length - 1] ?? '';
    throw new CakeError('engine', `${label} failed in the env (exit ${code}): ${why.trim()}`, {
      hint: `the guest's output is in ${ctx.logFile}; its last lines:\n  ${tail.slice(-8).join('\n  ')}`,
    });
  }
}

/**
 * A progress counter of dpkg's "Setting up" lines appearing in the log (a package is configured),
 * polled four times a second while a dpkg run goes on. Returns the function that stops it.
 */
function countSetUp(ctx: GuestRunContext, label: string, total: number): () => void {
  const bar = ctx.engineDeps.logger.progress(label, total, 'items');
  const start = statSync(ctx.logFile).size;
  const timer = setInterval(() => {
    try {
      const text = readFileSync(ctx.logFile, 'latin1').slice(start);
      bar.update(Math.min(total, text.match(/^Setting up /gm)?.length ?? 0));
    } catch {
      // the log is being rotated or gone: keep the last count
    }
  }, 250);
  return () => {
    clearInterval(timer);
    bar.stop();
  };
}

/**
 * Stops a faked that an interrupted or failed run left behind (its pid file still exists): SIGTERM,
 * so it removes its message queue, then up to 2 s for it to go. Only a process whose command line
 * names faked is signalled (the pid file is written by a guest).
 */
export async function stopFaked(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  const isFaked = (): boolean => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0]!.endsWith('/faked-sysv');
    } catch {
      return false;
    }
  };
  if (!isFaked()) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && isFaked(); i++) await new Promise((r) => setTimeout(r, 20));
}

function logTail(file: string, n: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n);
  } catch {
    return [];
  }
}

/** A POSIX-sh word for a guest path made of cake's own characters. */
export function shWord(s: string): string {
  return /^[A-Za-z0-9._/%+:=@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
