/**
 * The env's tree as a bake sees it: one walk that lists every entry (raw byte names, sorted),
 * computes the tree hash (paths, kinds, real ownership and modes from the ownership table, sizes,
 * symlink targets and file contents — what cook's tree hash covers; not mtimes, so the same tree
 * from two cooks gets the same image identity: UUIDs, hash seed, password salt) and, when asked, mirrors the tree as a "farm" in a
 * staging directory — a copy (reflinks where the filesystem has them) — so the image's own files
 * can be added or replaced without ever writing to the env. Not hard links: a link changes the
 * ctime of the env's files, and `cake cook` would then see every file as changed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, lutimesSync, utimesSync, type Stats } from 'node:fs';
import { hashFile, HashPacer, type HashOptions } from '../store/tree-hash.js';
import { fsJoin } from '../archive/tree-walk.js';
import { copyFileKeepingHoles } from '../archive/copy-file.js';
import { getOwner, keyFromBytes, lookupOwner, type OwnershipTable } from '../model/ownership.js';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'fifo';

export interface TreeEntry {
  /** Path relative to the root as raw bytes ('' is the root itself). */
  rel: Buffer;
  kind: EntryKind;
  st: Stats;
}

export interface WalkResult {
  entries: TreeEntry[];
  /** sha256 hex of the tree (see the module comment); stable across extractions of the same content. */
  treeHash: string;
  /** Newest mtime (seconds) in the tree. */
  newestMtime: number;
  /** Sum of file sizes. */
  bytes: number;
}

const CHUNK = 1 << 20;

/** Joins a root path and a raw relative path (Buffer paths keep non-UTF-8 names intact; depth-safe, see fsJoin). */
export function joinRaw(root: string, rel: Buffer): string | Buffer {
  return fsJoin(root, rel);
}

/**
 * Walks `root` (which is not followed if it is a symlink) in sorted order. Sockets and other
 * kinds are skipped. With `hashContents` file data goes into the tree hash (a full read,
 * interruptible through `signal`, big files named through `logger`: see HashOptions).
 */
export async function walkTree(root: string, ownership: OwnershipTable, opts: { hashContents: boolean } & HashOptions): Promise<WalkResult> {
  const pacer = new HashPacer(opts.signal);
  const entries: TreeEntry[] = [];
  // iterative (no recursion limit on depth); the order does not matter: entries are sorted below
  const todo: Buffer[] = [Buffer.alloc(0)];
  while (todo.length > 0) {
    const rel = todo.pop()!;
    const st = lstatSync(joinRaw(root, rel));
    const kind: EntryKind | undefined = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : undefined;
    if (kind === undefined) continue;
    entries.push({ rel, kind, st });
    if (kind !== 'dir') continue;
    for (const name of readdirSync(joinRaw(root, rel), { encoding: 'buffer' })) todo.push(rel.length === 0 ? name : Buffer.concat([rel, Buffer.from('/'), name]));
  }
  entries.sort((a, b) => Buffer.compare(a.rel, b.rel));
  const hash = createHash('sha256');
  let newestMtime = 0;
  let bytes = 0;
  const buf = Buffer.alloc(CHUNK);
  for (const e of entries) {
    const turn = pacer.due();
    if (turn) await turn;
    const key = keyFromBytes(e.rel);
    const owner = e.rel.length === 0 ? { uid: 0, gid: 0, mode: 0o755 } : lookupOwner(ownership, key, e.st.mode);
    // The root directory's own mtime is when the env was made, not part of its content.
    const mtime = e.rel.length === 0 ? 0 : Math.floor(e.st.mtimeMs / 1000);
    newestMtime = Math.max(newestMtime, mtime);
    // times are not identity: the image's times are the files' own, clamped to SOURCE_DATE_EPOCH
    hash.update(e.rel).update(`\0${e.kind}\0${owner.uid}:${owner.gid}:${owner.mode.toString(8)}\0`);
    if (e.kind === 'symlink') hash.update(readlinkSync(joinRaw(root, e.rel), { encoding: 'buffer' }));
    if (e.kind === 'file') {
      bytes += e.st.size;
      hash.update(`${e.st.size}\0`);
      if (opts.hashContents) await hashFile(joinRaw(root, e.rel), { ...opts, into: hash, buf, pacer, label: () => `/${e.rel.toString()}` });
    }
    hash.update('\n');
  }
  // Devices (and fifos that could not be made) exist only in the table.
  for (const key of Object.keys(ownership).sort()) {
    const rec = getOwner(ownership, key);
    if (rec?.kind === undefined) continue;
    hash.update(`${key}\0${rec.kind}\0${rec.uid}:${rec.gid}:${rec.mode.toString(8)}\0${rec.rdev?.join(',') ?? ''}\n`);
  }
  return { entries, treeHash: hash.digest('hex'), newestMtime, bytes };
}

/**
 * Mirrors the walked tree under `farm` (which must not exist): directories are created (mode
 * u+rwx so the overlay can write in them, times copied), files and fifos copied with their times
 * (reflinked where the filesystem can), symlinks recreated. The env is not written to, and not
 * even its inodes' ctimes change.
 */
export function buildFarm(root: string, walk: WalkResult, farm: string): void {
  // GNU cp does the same several times faster; cake's own loop is the fallback (another cp).
  if (spawnSync('cp', ['-a', '--reflink=auto', '--sparse=always', '--no-preserve=ownership,xattr', '--', root, farm], { stdio: 'ignore' }).status === 0) {
    for (const e of walk.entries) {
      if (e.kind === 'dir' && (e.st.mode & 0o700) !== 0o700) chmodSync(joinRaw(farm, e.rel), (e.st.mode & 0o7777) | 0o700);
    }
    return;
  }
  rmSync(farm, { recursive: true, force: true });
  const dirTimes: Array<[string | Buffer, Stats]> = [];
  for (const e of walk.entries) {
    const src = joinRaw(root, e.rel);
    const dst = joinRaw(farm, e.rel);
    if (e.kind === 'dir') {
      mkdirSync(dst);
      // chmod, not mkdir's mode: the umask must not change the mode the image gets (e.g. /tmp 1777)
      chmodSync(dst, (e.st.mode & 0o7777) | 0o700);
      dirTimes.push([dst, e.st]);
    } else if (e.kind === 'symlink') {
      symlinkSync(readlinkSync(src, { encoding: 'buffer' }), dst);
      lutimesSync(dst, e.st.atime, e.st.mtime);
    } else if (e.kind === 'fifo') {
      spawnSync('mkfifo', ['-m', '600', '--', String(dst)]);
      utimesSync(dst, e.st.atime, e.st.mtime);
    } else {
      copyFileKeepingHoles(src, dst);
      chmodSync(dst, (e.st.mode & 0o7777) | 0o600);
      utimesSync(dst, e.st.atime, e.st.mtime);
    }
  }
  // Deepest first, after every child exists, so creating children does not change them again.
  for (const [dst, st] of dirTimes.reverse()) utimesSync(dst, st.atime, st.mtime);
}

/**
 * Gives the farm's directories back the env's mtimes (writing files into them changed those);
 * the root and directories the bake added get SOURCE_DATE_EPOCH. Returns the farm's final walk.
 */
export async function restoreDirTimes(farm: string, walk: WalkResult, sde: number): Promise<WalkResult> {
  const env = new Map<string, number>();
  for (const e of walk.entries) if (e.kind === 'dir') env.set(e.rel.toString('latin1'), e.st.mtimeMs / 1000);
  const final = await walkTree(farm, {}, { hashContents: false });
  for (const e of final.entries) {
    if (e.kind !== 'dir') continue;
    const t = e.rel.length === 0 ? sde : (env.get(e.rel.toString('latin1')) ?? sde);
    utimesSync(joinRaw(farm, e.rel), t, t);
  }
  return walkTree(farm, {}, { hashContents: false });
}
