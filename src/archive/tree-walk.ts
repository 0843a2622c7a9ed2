/**
 * Walking a root filesystem byte-exactly: names are Buffers (Linux names are bytes, not always
 * UTF-8), paths are strings when ASCII (fast) and Buffers otherwise. Never follows symlinks.
 * Depth-safe: paths longer than PATH_MAX are reached through an open directory ({@link fsJoin}).
 */
import { chmodSync, closeSync, lstatSync, openSync, readdirSync, constants as C, type Stats } from 'node:fs';
import { atFd, O_PATH } from './remove-tree.js';
import { keyFromBytes } from '../model/ownership.js';
import { isAscii } from './tar-encode.js';

export type FsPath = string | Buffer;

export interface TreeEntry {
  /** Path relative to the root, no leading '/'. */
  rel: Buffer;
  /** The ownership-table key of `rel`. */
  key: string;
  st: Stats;
}


function plainJoin(root: string, rel: Buffer): FsPath {
  if (rel.length === 0) return root;
  if (isAscii(rel)) return root + '/' + rel.toString('latin1');
  return Buffer.concat([Buffer.from(root + '/'), rel]);
}

/** Paths up to this many bytes go to the kernel as they are (PATH_MAX is 4096). */
const DIRECT = 3000;
/** Longer ones are cut at a '/' before a multiple of this many bytes. */
const CHUNK = 2048;
/** Anchor directories held open; a path from {@link fsJoin} stays valid for this many more anchors. */
const RING = 64;
const ring: number[] = [];

function anchor(path: FsPath): number {
  const fd = openSync(path, O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
  ring.push(fd);
  if (ring.length > RING) closeSync(ring.shift()!);
  return fd;
}

/**
 * `root` joined with a relative byte path, usable whatever the depth: a path longer than the
 * kernel takes becomes `/proc/self/fd/N/REST`, where N is a directory of the path opened on the
 * way (its last component not followed) and REST is short. Use the result at once (it stays
 * valid while fewer than {@link RING} other long paths are made) and in this process only.
 */
export function fsJoin(root: string, rel: Buffer): FsPath {
  if (root.length + 1 + rel.length <= DIRECT) return plainJoin(root, rel);
  const bound = Math.floor((rel.length - 1) / CHUNK) * CHUNK;
  const cut = bound > 0 ? rel.lastIndexOf(0x2f, bound) : -1;
  if (cut <= 0) return plainJoin(root, rel);
  const fd = anchor(fsJoin(root, rel.subarray(0, cut)));
  return atFd(fd, rel.subarray(cut + 1));
}

/** An absolute path that may be longer than PATH_MAX, made usable as {@link fsJoin} does. */
export function reach(abs: FsPath): FsPath {
  if (abs.length <= DIRECT) return abs;
  const b = typeof abs === 'string' ? Buffer.from(abs, isAsciiText(abs) ? 'latin1' : 'utf8') : abs;
  return fsJoin('', b.subarray(1));
}

function isAsciiText(s: string): boolean {
  return !/[^\x00-\x7f]/.test(s);
}

/** `rel` + '/' + `name` as bytes. */
export function relJoin(rel: Buffer, name: Buffer): Buffer {
  return rel.length === 0 ? name : Buffer.concat([rel, Buffer.from('/'), name]);
}

/**
 * Every entry below `root` (not the root itself), parents before children. Directories that the
 * owner cannot list get u+rx for the walk (their mode is put back by `restore`, which the caller
 * must call; or pass `restore` to collect them in a list of the caller's). Sockets are
 * included; the caller decides.
 */
export function listTree(root: string, restore: Array<[FsPath, number]> = []): { entries: TreeEntry[]; restore(): void } {
  const entries: TreeEntry[] = [];
  const stack: Buffer[] = [Buffer.alloc(0)];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const dst = lstatSync(fsJoin(root, dir));
    if ((dst.mode & 0o500) !== 0o500) {
      restore.push([plainJoin(root, dir), dst.mode & 0o7777]);
      chmodSync(fsJoin(root, dir), (dst.mode & 0o7777) | 0o700);
    }
    for (const name of readdirSync(fsJoin(root, dir), { encoding: 'buffer' })) {
      const rel = relJoin(dir, name);
      const st = lstatSync(fsJoin(root, rel));
      entries.push({ rel, key: keyFromBytes(rel), st });
      if (st.isDirectory()) stack.push(rel);
    }
  }
  return {
    entries,
    restore() {
      for (const [p, mode] of restore.reverse()) {
        try {
          chmodSync(reach(p), mode);
        } catch {
          // best effort
        }
      }
    },
  };
}
