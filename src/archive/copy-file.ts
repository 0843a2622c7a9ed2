/**
 * Copying one regular file so that its holes stay holes: an env may hold a sparse giant (a 200 GiB
 * `truncate -s` file takes no blocks), and a copy that writes its zeros fills the disk. Order:
 * a reflink (FICLONE: instant, shares the blocks, keeps everything), else, for a file with fewer
 * blocks than its size (the only kind that can have holes worth keeping), GNU cp
 * `--sparse=always`, which finds the data with SEEK_DATA/SEEK_HOLE; else cake's own loop, which
 * reads everything and seeks over the zero chunks. Files with all their blocks are copied by
 * `copyFileSync` (reflink, else copy_file_range/sendfile in the kernel).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fchmodSync, fstatSync, ftruncateSync, openSync, readSync, writeSync, constants as C, type Stats } from 'node:fs';
import type { FsPath } from './tree-walk.js';
import { CakeError } from '../model/errors.js';

const CHUNK = 1 << 20;

/** True when `st` (a regular file) has fewer blocks than its size: it has holes. */
export function mayHaveHoles(st: Pick<Stats, 'size' | 'blocks'>): boolean {
  return st.blocks * 512 < st.size;
}

/**
 * Copies the regular file `src` to `dst` (must not exist) with its permission bits, keeping its
 * holes (see the module comment). `src` is not followed if it is a symlink (unless `follow`); a
 * fifo or device is refused. Times are the caller's.
 */
export function copyFileKeepingHoles(src: FsPath, dst: FsPath, o: { follow?: boolean } = {}): void {
  const from = openSync(src, C.O_RDONLY | C.O_NONBLOCK | (o.follow ? 0 : C.O_NOFOLLOW));
  try {
    const st = fstatSync(from);
    if (!st.isFile()) throw new CakeError('io', `cannot copy ${src.toString()}: it is not a regular file`, { hint: 'name a regular file' });
    if (!mayHaveHoles(st)) {
      // the file opened above, not what the path names now (a swap to a symlink after the check)
      copyFileSync(existsSync(`/proc/self/fd/${from}`) ? `/proc/self/fd/${from}` : src, dst, C.COPYFILE_FICLONE | C.COPYFILE_EXCL);
      return;
    }
    const to = openSync(dst, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      if (!viaCp(from, to)) sparseLoop(from, to, st.size);
      fchmodSync(to, st.mode & 0o7777);
    } finally {
      closeSync(to);
    }
  } finally {
    closeSync(from);
  }
}

/** GNU cp on the two open files (`/dev/fd/N`: paths of any depth work): reflink, else SEEK_DATA. */
function viaCp(from: number, to: number): boolean {
  const r = spawnSync('cp', ['--sparse=always', '--reflink=auto', '--', '/dev/fd/3', '/dev/fd/4'], { stdio: ['ignore', 'ignore', 'ignore', from, to] });
  return r.status === 0;
}

/** Copies by reading everything, seeking over all-zero chunks; the size is set at the end. */
export function sparseLoop(from: number, to: number, size: number): void {
  ftruncateSync(to, 0);
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  for (;;) {
    const n = readSync(from, buf, 0, CHUNK, pos);
    if (n === 0) break;
    if (!isZero(buf, n)) {
      let off = 0;
      while (off < n) off += writeSync(to, buf, off, n - off, pos + off);
    }
    pos += n;
  }
  ftruncateSync(to, Math.max(pos, size));
}

const ZERO = Buffer.alloc(CHUNK);

function isZero(buf: Buffer, n: number): boolean {
  return buf.subarray(0, n).equals(ZERO.subarray(0, n));
}
