import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { tmpSibling } from './atomic-write.js';
import { formatOwner, ownerState, parseOwner, pidAlive as pidAliveImpl } from './owner.js';

/**
 * An exclusive lock between cake processes on this machine: a file that names its holder
 * (`PID START BOOT NS`, see src/store/owner.ts), written complete to a temporary and hard-linked
 * to the lock path, so a lock file is never seen half-written. A lock whose holder is not a live
 * cake — killed, crashed, a pid reused by another program or after a reboot, an empty file left
 * by a full disk, garbage — is taken over at once with a note, so an interrupted command never
 * blocks the next one. A live holder is waited for (polled with a growing delay, up to 10 minutes
 * by default); the wait ends at once on the caller's abort signal.
 */

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export const pidAlive = pidAliveImpl;

export interface LockHandle {
  release(): void;
}

/** Why the lock at `path` (read as `text`) is held by no live cake, or undefined when it is held. */
function staleReason(text: string): string | undefined {
  const owner = parseOwner(text);
  if (owner) {
    const s = ownerState(owner);
    return s.alive ? undefined : s.why;
  }
  // the format of cake before 0.2: a pid alone
  const legacy = /^(\d+)\n?$/.exec(text);
  if (legacy) {
    const pid = Number(legacy[1]);
    if (!pidAlive(pid)) return `pid ${pid} is gone`;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    } catch {
      return undefined; // cannot tell: a live pid
    }
    return /node|cake/.test(cmd) ? undefined : `pid ${pid} is not cake`;
  }
  return text.length === 0 ? 'the lock file is empty' : 'the lock file holds no owner';
}

/** Takes the lock when free; moves a stale one aside (and says so through `note`). */
function tryLock(path: string, note: (msg: string) => void): LockHandle | 'retry' | undefined {
  const tmp = tmpSibling(path);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, `${formatOwner()}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    return takeOver(path, note);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // gone already
    }
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        // only our own lock: a lock taken over (we were thought dead) belongs to its new holder
        if (parseOwner(readFileSync(path, 'utf8'))?.pid === process.pid) unlinkSync(path);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    },
  };
}

function takeOver(path: string, note: (msg: string) => void): 'retry' | undefined {
  let text: string;
  let ino: number;
  try {
    ino = lstatSync(path).ino;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'retry';
    throw err;
  }
  const why = staleReason(text);
  if (why === undefined) return undefined;
  // Move it aside atomically; if what we moved is not the file we judged (another waiter took
  // the stale lock over and holds a fresh one), put that one back.
  const aside = `${tmpSibling(path)}.stale`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'retry';
    throw err;
  }
  try {
    if (lstatSync(aside).ino !== ino) {
      try {
        linkSync(aside, path);
      } catch {
        // a third holder appeared meanwhile: it holds the lock
      }
      return undefined;
    }
    note(`took over ${path}: ${why}`);
    return 'retry';
  } finally {
    try {
      unlinkSync(aside);
    } catch {
      // gone already
    }
  }
}

export interface LockOptions {
  /** What is locked, for messages ("environment web"). */
  what: string;
  /** 0 = fail at once when busy; default: wait up to 10 minutes. */
  waitMs?: number;
  signal?: AbortSignal;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: () => void;
  /** Called when a stale lock is taken over (default: a note on stderr). */
  onTakeover?: (msg: string) => void;
}

function defaultNote(msg: string): void {
  process.stderr.write(`note: ${msg}\n`);
}

/** The pid in a lock file, for messages (undefined when it names none). */
export function lockHolder(path: string): { pid: number; alive: boolean } | undefined {
  try {
    const owner = parseOwner(readFileSync(path, 'utf8'));
    return owner ? { pid: owner.pid, alive: ownerState(owner).alive } : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock at `path`, waiting for a live owner to finish. */
export async function acquireLock(path: string, opts: LockOptions): Promise<LockHandle> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + (opts.waitMs ?? 600_000);
  const note = opts.onTakeover ?? defaultNote;
  let delay = 20;
  let waited = false;
  for (;;) {
    if (opts.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
    const got = tryLock(path, note);
    if (got === 'retry') continue;
    if (got) return got;
    if (Date.now() >= deadline) {
      const holder = lockHolder(path);
      throw new CakeError('locked', `${opts.what} is busy: another cake process${holder ? ` (pid ${holder.pid})` : ''} holds ${path}`, {
        hint: 'wait for the other cake command to finish',
      });
    }
    if (!waited) {
      waited = true;
      opts.onWait?.();
    }
    await sleep(delay, opts.signal);
    delay = Math.min(delay * 2, 500);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
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

/** True when the lock file at `path` names no live cake (or is gone): a leftover gc may remove. */
export function lockIsStale(path: string): boolean {
  try {
    return staleReason(readFileSync(path, 'utf8')) !== undefined;
  } catch (err) {
    return isErrno(err, 'ENOENT');
  }
}


/**
 * Removes the lock file at `path` when it names no live cake (a leftover of a killed command),
 * safely against a waiter taking it over at the same moment. True when it removed one.
 */
export function clearStaleLock(path: string): boolean {
  return takeOver(path, () => {}) === 'retry' && !lockHeldFile(path);
}

function lockHeldFile(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
