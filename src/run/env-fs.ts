/**
 * Host-side creates and removes inside an env that a guest cannot redirect.
 *
 * Node has no openat(); the equivalent here is a directory file descriptor and a path through
 * `/proc/self/fd/N/NAME`: the kernel follows the magic link to exactly the directory the fd holds
 * (never re-resolving its name), then looks NAME up in it. Every component is opened with
 * O_NOFOLLOW|O_DIRECTORY, so a symlink anywhere on the way (one a guest swapped in a moment ago
 * included) makes the walk fail with ELOOP/ENOTDIR instead of leading out of the tree; the last
 * component is created with mkdir (never follows) or O_CREAT|O_EXCL|O_NOFOLLOW, and removed with
 * rmdir/unlink relative to its parent's fd. Unlike the extractor's walk (src/archive/safe-path.ts),
 * which may trust a tree nobody else writes to while it works, these run while guests of other
 * runs may be changing the same tree. Paths are symlink-free guest paths (see guest-path.ts).
 */
import { closeSync, constants as C, fstatSync, mkdirSync, openSync, readSync, rmdirSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { CakeError, isErrno } from '../model/errors.js';

/** O_PATH (Linux): a handle that opens nothing (no FIFO blocks, no read permission needed). */
const O_PATH = 0o10000000;
const DIR_FLAGS = O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW;

function at(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

function components(guestPath: string): string[] {
  return guestPath.split('/').filter((p) => p !== '' && p !== '.');
}

function refuse(guestPath: string, err: unknown): CakeError {
  const why = isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR') ? 'a symlink or a non-directory is in the way' : (err as Error).message;
  return new CakeError('engine', `cannot prepare ${guestPath} in the env: ${why}`, {
    hint: 'something inside the env changed its files while cake prepared the run; run it again (and check what runs in the env)',
    cause: err,
  });
}

/**
 * Opens the directory at the guest path `dir` (symlink-free, relative to `root`) with a walk that
 * refuses symlinks; with `create`, missing directories are made (mode 0755), and their guest
 * paths are pushed to `created` (parents first). Returns an O_PATH fd the caller closes.
 */
export function openDirWithin(root: string, dir: string, create: boolean, created?: string[]): number {
  let fd = openSync(root, C.O_RDONLY | C.O_DIRECTORY);
  let sofar = '';
  try {
    for (const part of components(dir)) {
      if (part === '..') throw new CakeError('engine', `cannot prepare ${dir} in the env: '..' in the path`);
      sofar += '/' + part;
      let next: number;
      try {
        next = openSync(at(fd, part), DIR_FLAGS);
      } catch (err) {
        if (!create || !isErrno(err, 'ENOENT')) throw err;
        mkdirSync(at(fd, part), 0o755);
        created?.push(sofar);
        next = openSync(at(fd, part), DIR_FLAGS);
      }
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    if (err instanceof CakeError) throw err;
    throw refuse(dir, err);
  }
}

function split(guestPath: string): { parent: string; name: string } {
  const parts = components(guestPath);
  const name = parts.pop();
  if (name === undefined || name === '..') throw new CakeError('engine', `cannot prepare ${guestPath} in the env: not a file name`);
  return { parent: '/' + parts.join('/'), name };
}

/**
 * Makes `guestPath` exist as an empty directory or file (a mount point), creating missing parents.
 * Returns the guest paths it created, parents first ([] when it was already there with that kind).
 * A different kind already there is a CakeError('engine').
 */
export function ensureWithin(root: string, guestPath: string, kind: 'dir' | 'file'): string[] {
  const created: string[] = [];
  if (kind === 'dir') {
    closeSync(openDirWithin(root, guestPath, true, created));
    return created;
  }
  const { parent, name } = split(guestPath);
  const dfd = openDirWithin(root, parent, true, created);
  try {
    try {
      closeSync(openSync(at(dfd, name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644));
      created.push(guestPath);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw refuse(guestPath, err);
      const fd = openSync(at(dfd, name), O_PATH | C.O_NOFOLLOW);
      try {
        if (!fstatSync(fd).isFile()) throw new CakeError('engine', `cannot bind a file over ${guestPath}: it is not a regular file in the env`);
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    closeSync(dfd);
  }
  return created;
}

/**
 * Creates `guestPath` as a new regular file holding `content` (its parent must exist; nothing is
 * followed, nothing existing is touched). Returns its stats, or undefined when something is
 * already there.
 */
export function createFileWithin(root: string, guestPath: string, content: string): Stats | undefined {
  const { parent, name } = split(guestPath);
  const dfd = openDirWithin(root, parent, false);
  try {
    let fd: number;
    try {
      fd = openSync(at(dfd, name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return undefined;
      throw refuse(guestPath, err);
    }
    try {
      writeSync(fd, content);
      return fstatSync(fd);
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(dfd);
  }
}

/** What a removal checks: the entry must still be this inode (and, for files, this size). */
export interface Expected {
  ino?: number;
  size?: number;
}

/**
 * Removes what cake created at `guestPath` if it is still what cake left there: an empty
 * directory, or a regular file of the expected inode and size. Never follows a symlink; anything
 * else (changed, replaced, non-empty, gone) is left alone. Returns true when it removed it.
 */
export function removeOwnWithin(root: string, guestPath: string, expected: Expected = {}): boolean {
  let dfd: number;
  try {
    const { parent } = split(guestPath);
    dfd = openDirWithin(root, parent, false);
  } catch {
    return false;
  }
  const { name } = split(guestPath);
  try {
    let st: Stats;
    try {
      const fd = openSync(at(dfd, name), O_PATH | C.O_NOFOLLOW);
      st = fstatSync(fd);
      closeSync(fd);
    } catch {
      return false;
    }
    if (expected.ino !== undefined && st.ino !== expected.ino) return false;
    if (st.isDirectory()) {
      try {
        rmdirSync(at(dfd, name));
        return true;
      } catch {
        return false; // not empty (or busy): keep it
      }
    }
    if (!st.isFile() || (expected.size !== undefined && st.size !== expected.size)) return false;
    unlinkSync(at(dfd, name));
    return true;
  } finally {
    closeSync(dfd);
  }
}

/**
 * Reads the regular file at the symlink-free guest path `guestPath` (relative to `root`) with the
 * same symlink-refusing walk, opened O_NONBLOCK|O_NOFOLLOW so a FIFO or a swapped-in symlink never
 * blocks or leads to a host file; at most `limit` bytes. '' when it is missing or not a regular file.
 */
export function readFileWithin(root: string, guestPath: string, limit = 4 << 20): string {
  let dir: number;
  let fd: number;
  try {
    const { parent, name } = split(guestPath);
    dir = openDirWithin(root, parent, false);
    try {
      fd = openSync(at(dir, name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } finally {
      closeSync(dir);
    }
  } catch {
    return '';
  }
  try {
    if (!fstatSync(fd).isFile()) return '';
    const buf = Buffer.alloc(Math.min(limit, Math.max(0, fstatSync(fd).size)));
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
