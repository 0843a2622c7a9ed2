/**
 * The per-run directory: `<cacheDir>/runs/<pid>-<random>/` (cacheDir: {@link engineCacheDir}), made
 * before a guest starts and removed after it ends. It holds the skeleton of the guest's private /dev
 * (bound over the env's /dev by both engines; see DEV_NODES), empty stages for the userns engine's /proc and /sys, and
 * `run.json`: the env it serves and the mount points cake created in that env for this run.
 *
 * Nothing of a run stays in the env: after the run, the mount points it created are removed when
 * they are still empty and no other live run of the same env uses them. A run that was killed
 * (SIGKILL, power loss) leaves its directory; the next run, export, push or bake sweeps it
 * (sweepRuns), removing the mount points it recorded the same way.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../store/lock.js';
import { removeOwnWithin, type Expected } from './env-fs.js';

/** Host device nodes every guest gets in its private /dev (bound one by one). */
export const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;
/** Where cake's own helpers appear in the guest: on the private /dev, never in the env's tree. */
export const GUEST_CAKE_DIR = '/dev/.cake';
/** The static env program that applies the guest environment inside the guest (see command.ts). */
export const GUEST_ENV_HELPER = `${GUEST_CAKE_DIR}/busybox`;

/** A mount point or file cake made in an env for a run, and how to tell it is still cake's. */
export interface CreatedEntry extends Expected {
  /** The host directory `path` is relative to: the env's rootfs, or the source of a bind. */
  root?: string;
  path: string;
}

interface RunRecord {
  pid: number;
  rootfs: string;
  /** Guest paths this run mounts over (whoever created them). */
  uses: string[];
  /** What this run created in the env, parents first. */
  created: CreatedEntry[];
}

export interface RunDir {
  dir: string;
  /** The /dev skeleton: `dir/dev`. */
  dev: string;
  /** A directory the proot engine shows as /proc/1, whose `root` is not the guest's `/` (so chroot detection works). */
  initRoot: string;
  record(uses: string[], created: CreatedEntry[]): void;
  /** Removes what the run created (where no live run uses it) and the run directory. */
  finish(): void;
}

function readRecord(dir: string): RunRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;
    return typeof r.pid === 'number' && Array.isArray(r.created) && Array.isArray(r.uses) ? r : undefined;
  } catch {
    return undefined;
  }
}

function runsDir(cacheDir: string): string {
  return join(cacheDir, 'runs');
}

function liveRecords(cacheDir: string, except: string): RunRecord[] {
  const out: RunRecord[] = [];
  for (const name of safeList(runsDir(cacheDir))) {
    const dir = join(runsDir(cacheDir), name);
    if (dir === except) continue;
    const r = readRecord(dir);
    if (r !== undefined && pidAlive(r.pid)) out.push(r);
  }
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Removes `created` (deepest first) unless a live run of the same rootfs uses it. */
function removeCreated(cacheDir: string, self: string, rec: RunRecord): void {
  const busy = new Set(liveRecords(cacheDir, self).filter((r) => r.rootfs === rec.rootfs).flatMap((r) => [...r.uses, ...r.created.map((c) => c.path)]));
  for (const c of [...rec.created].reverse()) {
    if ([...busy].some((u) => u === c.path || u.startsWith(c.path + '/'))) continue;
    removeOwnWithin(c.root ?? rec.rootfs, c.path, c);
  }
}

/** The engine's cache dir in the store's cache: run dirs, self-check results, provisioned kits. */
export function engineCacheDir(paths: { cache: string }): string {
  return join(paths.cache, 'engine');
}

/**
 * Sweeps run directories whose cake process is gone (see the module comment). Never throws.
 * Runs before a guest starts and before an env is read for an output (export, push, bake), so a
 * killed run's mount points never reach a tarball, an image or a disk.
 */
export function sweepRuns(cacheDir: string): void {
  for (const name of safeList(runsDir(cacheDir))) {
    const dir = join(runsDir(cacheDir), name);
    const pid = Number(name.split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid || pidAlive(pid)) continue;
    try {
      const rec = readRecord(dir);
      if (rec !== undefined) removeCreated(cacheDir, dir, rec);
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // another sweeper got there first, or it is not ours to judge: leave it
    }
  }
}

/**
 * Creates the run directory for a run in `rootfs`, with the /dev skeleton (an empty file per
 * DEV_NODES entry and for the helper, empty pts/ and shm/, the usual symlinks) and stages.
 */
export function createRunDir(cacheDir: string, rootfs: string): RunDir {
  mkdirSync(runsDir(cacheDir), { recursive: true });
  const dir = join(runsDir(cacheDir), `${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  const dev = join(dir, 'dev');
  for (const d of ['dev', 'dev/pts', 'dev/shm', 'dev/.cake', 'proc', 'sys', 'proc-1', 'proc-1/root']) mkdirSync(join(dir, d), { mode: 0o755 });
  for (const n of [...DEV_NODES, 'console', '.cake/busybox']) writeFileSync(join(dev, n), '', { mode: 0o644 });
  for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2'], ['ptmx', 'pts/ptmx']] as const) {
    symlinkSync(target, join(dev, name));
  }
  let rec: RunRecord = { pid: process.pid, rootfs, uses: [], created: [] };
  const write = (): void => {
    writeFileSync(join(dir, 'run.json.tmp'), JSON.stringify(rec));
    renameSync(join(dir, 'run.json.tmp'), join(dir, 'run.json'));
  };
  write();
  let finished = false;
  return {
    dir,
    dev,
    initRoot: join(dir, 'proc-1'),
    record(uses, created) {
      rec = { ...rec, uses: [...rec.uses, ...uses], created: [...rec.created, ...created] };
      write();
    },
    finish() {
      if (finished) return;
      finished = true;
      try {
        removeCreated(cacheDir, dir, rec);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
