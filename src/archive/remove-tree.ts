/**
 * Removing a tree whatever the modes inside it (a 0555 or 0000 directory, files programs in the
 * env chmod'ed): every env can be removed. Never follows symlinks, iterative (no recursion depth
 * limit), and byte-exact with names that are not UTF-8.
 */
import { chmodSync, lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { isErrno } from '../model/errors.js';

type FsPath = string | Buffer;

function join(dir: FsPath, name: Buffer): FsPath {
  const ascii = !name.some((b) => b >= 0x80);
  if (typeof dir === 'string' && ascii) return dir + '/' + name.toString('latin1');
  const d = typeof dir === 'string' ? Buffer.from(dir) : dir;
  return Buffer.concat([d, Buffer.from('/'), name]);
}

/**
 * Deletes `path` and everything below it, like `rm -rf`, giving directories u+rwx first where
 * needed. A symlink is removed itself, never followed. A missing path is not an error (idempotent).
 * Synchronous; see {@link removeTree} for the async contract.
 */
export function removeTreeSync(path: FsPath): void {
  const top = lstatSync(path, { throwIfNoEntry: false });
  if (top === undefined) return;
  if (!top.isDirectory()) {
    unlinkSync(path);
    return;
  }
  // Post-order walk with an explicit stack of [dir, mode, listed?]
  const stack: Array<[FsPath, number, boolean]> = [[path, top.mode, false]];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const [dir, mode, listed] = frame;
    if (listed) {
      stack.pop();
      try {
        rmdirSync(dir);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      continue;
    }
    frame[2] = true;
    // reading, stat'ing and unlinking inside a directory needs rwx on it
    if ((mode & 0o700) !== 0o700) chmodSync(dir, (mode & 0o7777) | 0o700);
    for (const name of readdirSync(dir, { encoding: 'buffer' })) {
      const child = join(dir, name);
      const st = lstatSync(child, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isDirectory()) stack.push([child, st.mode, false]);
      else unlinkSync(child);
    }
  }
}

/** Deletes `path` recursively whatever its modes; resolves when it is gone (also when it never existed). */
export async function removeTree(path: string): Promise<void> {
  removeTreeSync(path);
}
