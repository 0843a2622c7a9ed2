/**
 * Removing a tree whatever the modes inside it (a 0555 or 0000 directory, files programs in the
 * env chmod'ed): every env can be removed. Never follows symlinks, iterative (no recursion depth
 * limit), byte-exact with names that are not UTF-8, and depth-safe: every operation is relative
 * to an open directory (through /proc/self/fd/N, one component at a time, the last one never
 * followed), so a tree deeper than PATH_MAX (a 2047-deep directory chain made in a guest) is
 * removed like any other, and a directory swapped for a symlink meanwhile is not followed.
 * At most {@link WINDOW} directories are held open; deeper ancestors are reopened through `..`
 * and checked to be the same directory (device and inode) on the way back.
 */
import { chmodSync, closeSync, fstatSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync, constants as C } from 'node:fs';
import { CakeError, isErrno } from '../model/errors.js';

type FsPath = string | Buffer;

/** Linux's O_PATH (the same value on x86-64, arm64 and the other asm-generic architectures). */
export const O_PATH = 0o10000000;
const WINDOW = 128;

function join(dir: FsPath, name: Buffer): FsPath {
  const ascii = !name.some((b) => b >= 0x80);
  if (typeof dir === 'string' && ascii) return dir + '/' + name.toString('latin1');
  const d = typeof dir === 'string' ? Buffer.from(dir) : dir;
  return Buffer.concat([d, Buffer.from('/'), name]);
}

/** The path of `name` inside the directory open as `fd`: short whatever the depth. */
export function atFd(fd: number, name: Buffer | string): FsPath {
  return typeof name === 'string' ? `/proc/self/fd/${fd}/${name}` : join(`/proc/self/fd/${fd}`, name);
}

/**
 * Opens the directory `path` for listing without following a symlink in its last component,
 * giving it u+rwx first when it lacks them (reading, stat'ing and unlinking inside need them).
 */
export function openDirForWalk(path: FsPath, mode: number, need = 0o700): number {
  const p = openSync(path, O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
  try {
    if ((mode & need) !== need) chmodSync(`/proc/self/fd/${p}`, (mode & 0o7777) | need);
    return openSync(`/proc/self/fd/${p}`, C.O_RDONLY | C.O_DIRECTORY);
  } finally {
    closeSync(p);
  }
}

interface Frame {
  fd: number;
  dev: number;
  ino: number;
  /** Name in the parent (undefined for the top). */
  name: Buffer | undefined;
  names: Buffer[];
  i: number;
}

/**
 * Deletes `path` and everything below it, like `rm -rf`, giving directories u+rwx first where
 * needed. A symlink is removed itself, never followed. A missing path is not an error (idempotent).
 * Synchronous; see {@link removeTree} for the async, interruptible form.
 */
export function removeTreeSync(path: FsPath): void {
  for (const _ of removeSteps(path)) {
    // synchronous: no pause between steps
  }
}

/** The removal as steps: it pauses (yields) every 1024 entries so an async caller can check for an abort. */
function* removeSteps(path: FsPath): Generator<void, void, void> {
  const top = lstatSync(path, { throwIfNoEntry: false });
  if (top === undefined) return;
  if (!top.isDirectory()) {
    unlinkSync(path);
    return;
  }
  const stack: Frame[] = [];
  const push = (fd: number, name: Buffer | undefined): void => {
    const st = fstatSync(fd);
    stack.push({ fd, dev: st.dev, ino: st.ino, name, names: readdirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' }), i: 0 });
    const far = stack.length - 1 - WINDOW;
    if (far >= 0 && stack[far]!.fd >= 0) {
      closeSync(stack[far]!.fd);
      stack[far]!.fd = -1;
    }
  };
  try {
    push(openDirForWalk(path, top.mode), undefined);
    let n = 0;
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i < f.names.length) {
        if ((++n & 1023) === 0) yield;
        const name = f.names[f.i++]!;
        const child = atFd(f.fd, name);
        const st = lstatSync(child, { throwIfNoEntry: false });
        if (st === undefined) continue;
        if (!st.isDirectory()) {
          try {
            unlinkSync(child);
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err;
          }
          continue;
        }
        push(openDirForWalk(child, st.mode), name);
        continue;
      }
      stack.pop();
      const parent = stack[stack.length - 1];
      if (parent === undefined) {
        closeSync(f.fd);
        break;
      }
      if (parent.fd < 0) {
        // reopen the ancestor through `..` and make sure it is still the same directory
        const fd = openSync(`/proc/self/fd/${f.fd}/..`, C.O_RDONLY | C.O_DIRECTORY);
        const st = fstatSync(fd);
        if (st.dev !== parent.dev || st.ino !== parent.ino) {
          closeSync(fd);
          closeSync(f.fd);
          throw new CakeError('io', 'a directory was moved while it was being removed', { hint: 'run the command again when nothing else uses the environment' });
        }
        parent.fd = fd;
      }
      closeSync(f.fd);
      try {
        rmdirSync(atFd(parent.fd, f.name!));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
  } finally {
    for (const f of stack) if (f.fd >= 0) closeSync(f.fd);
  }
  try {
    rmdirSync(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

/**
 * Deletes `path` recursively whatever its modes; resolves when it is gone (also when it never
 * existed). Gives the event loop a turn every 1024 entries, so signals are seen; with `signal`,
 * an abort stops it with CakeError('interrupted') and leaves the rest in place.
 */
export async function removeTree(path: string, signal?: AbortSignal): Promise<void> {
  const steps = removeSteps(path);
  try {
    for (;;) {
      if (steps.next().done) return;
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new CakeError('interrupted', 'interrupted');
    }
  } finally {
    steps.return();
  }
}
