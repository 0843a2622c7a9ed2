import { openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';

/**
 * An exclusive lock between cake processes on this machine: a file created with O_EXCL that holds
 * the owner's pid. A lock whose owner is dead (killed, crashed, interrupted) is taken over at once,
 * so an interrupted command never blocks the next one. Waiting is polled with a growing delay.
 */
/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

export interface LockHandle {
  release(): void;
}

function ownerAlive(path: string): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(path, 'utf8').split('\n')[0] ?? '', 10);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
  // A lock file being written right now has no pid yet: treat it as alive.
  if (!Number.isInteger(pid) || pid <= 0) return true;
  return pid === process.pid || pidAlive(pid);
}

function tryLock(path: string): LockHandle | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    if (ownerAlive(path)) return undefined;
    // Stale: move it aside atomically so two waiters cannot both steal it.
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
      unlinkSync(aside);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    return undefined;
  }
  writeSync(fd, `${process.pid}\n`);
  closeSync(fd);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        unlinkSync(path);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    },
  };
}

export interface LockOptions {
  /** What is locked, for messages ("environment web"). */
  what: string;
  /** 0 = fail at once when busy; default: wait up to 10 minutes. */
  waitMs?: number;
  signal?: AbortSignal;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: () => void;
}

/** Takes the lock at `path`, waiting for a live owner to finish. */
export async function acquireLock(path: string, opts: LockOptions): Promise<LockHandle> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + (opts.waitMs ?? 600_000);
  let delay = 20;
  let waited = false;
  for (;;) {
    const handle = tryLock(path);
    if (handle) return handle;
    if (opts.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
    if (Date.now() >= deadline) {
      throw new CakeError('locked', `${opts.what} is busy: another cake process holds ${path}`, {
        hint: 'wait for the other cake command to finish, or remove the lock file if no cake is running',
      });
    }
    if (!waited) {
      waited = true;
      opts.onWait?.();
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}

/** Runs fn while holding the lock; always releases. */
export async function withLock<T>(path: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
