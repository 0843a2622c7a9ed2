/**
 * Walking a root filesystem byte-exactly: names are Buffers (Linux names are bytes, not always
 * UTF-8), paths are strings when ASCII (fast) and Buffers otherwise. Never follows symlinks.
 */
import { chmodSync, lstatSync, readdirSync, type Stats } from 'node:fs';
import { keyFromBytes } from './ownership.js';
import { isAscii } from './tar-encode.js';

export type FsPath = string | Buffer;

export interface TreeEntry {
  /** Path relative to the root, no leading '/'. */
  rel: Buffer;
  /** The ownership-table key of `rel`. */
  key: string;
  st: Stats;
}


/** `root` joined with a relative byte path. */
export function fsJoin(root: string, rel: Buffer): FsPath {
  if (rel.length === 0) return root;
  if (isAscii(rel)) return root + '/' + rel.toString('latin1');
  return Buffer.concat([Buffer.from(root + '/'), rel]);
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
    const dirPath = fsJoin(root, dir);
    const dst = lstatSync(dirPath);
    if ((dst.mode & 0o500) !== 0o500) {
      restore.push([dirPath, dst.mode & 0o7777]);
      chmodSync(dirPath, (dst.mode & 0o7777) | 0o700);
    }
    for (const name of readdirSync(dirPath, { encoding: 'buffer' })) {
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
          chmodSync(p, mode);
        } catch {
          // best effort
        }
      }
    },
  };
}
