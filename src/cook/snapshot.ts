/**
 * Step snapshots: hard-link trees with a copy-on-write discipline.
 *
 * A cook works in one private *working tree* (a real data copy: `copyFileKeepingHoles`, so a
 * reflink on btrfs/XFS and a plain copy on ext4; a sparse file stays sparse). After a step, the step's *snapshot* is a new
 * tree in the cache where every file the step did not touch is a hard link to the same file of
 * the parent snapshot and only new or changed files are copied. Snapshots are immutable: nothing
 * ever writes into them (a working tree is always a copy), so sharing inodes between them is
 * safe, and a snapshot costs its directories plus the bytes the step changed.
 *
 * What changed is told apart without reading contents: each working-tree entry's identity
 * (inode, ctime, mtime, size, mode) is recorded when the tree matches a snapshot (the *baseline*);
 * any write, chmod, rename or replacement changes the inode or the ctime. Programs in a step start
 * long after the baseline is taken (tens of milliseconds, far above the kernel's coarse timestamp
 * tick), and cake's own writers always create a new inode (write a temporary file, rename), so a
 * change cannot hide inside one clock tick.
 *
 * Why this scheme (bench/cook.mjs, Debian bookworm minbase: 190 MiB, 10 600 entries, on ext4,
 * which has no reflinks): a snapshot of a step that changed a few files costs 4.5–5.1 MiB (its
 * 1 100–1 300 directories; files are links) and 0.3–0.5 s; one that copied 1 748 files, 17.5 MiB
 * and 0.7–0.9 s; a full copy of the env per step would cost 190 MiB and 1.7–10.6 s (`cp -a`, idle
 * to loaded). Layered diffs would be smaller (no directory blocks) but every use would replay the
 * layers, where a hard-link tree is a complete tree to copy, hash or read from. What remains is
 * one full copy per cook into the working tree (a reflink where the filesystem has them).
 */
import { linkSync, lstatSync, lutimesSync, mkdirSync, readlinkSync, symlinkSync, utimesSync, type Stats } from 'node:fs';
import { copyFileKeepingHoles } from '../archive/copy-file.js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { isErrno } from '../model/errors.js';
import { fsJoin, listTree, type FsPath, type TreeEntry } from '../archive/tree-walk.js';

/** The identity of one working-tree entry at a moment. */
export interface EntryId {
  ino: number;
  ctimeMs: number;
  mtimeMs: number;
  size: number;
  /** st_mode: type and permission bits. */
  mode: number;
}

/** Identities of every entry of a working tree, by ownership-table key. */
export type Baseline = Map<string, EntryId>;

export interface SnapshotStats {
  entries: number;
  /** Files and symlinks hard-linked to the parent snapshot. */
  linked: number;
  /** Files and symlinks copied (new or changed). */
  copied: number;
  dirs: number;
  /** Bytes of the copied files. */
  bytesCopied: number;
  /** Disk blocks newly allocated by the snapshot (st_blocks × 512 of copies and directories). */
  diskBytes: number;
  /** How long making it took. */
  ms: number;
}

const S_IFMT = 0o170000;

function idOf(st: Stats): EntryId {
  return { ino: st.ino, ctimeMs: st.ctimeMs, mtimeMs: st.mtimeMs, size: st.size, mode: st.mode };
}

function same(a: EntryId | undefined, st: Stats): boolean {
  return a !== undefined && a.ino === st.ino && a.ctimeMs === st.ctimeMs && a.mtimeMs === st.mtimeMs && a.size === st.size && a.mode === st.mode;
}

/** The identities of every entry of `root` now. */
export function baselineOf(root: string): Baseline {
  const { entries, restore } = listTree(root);
  restore();
  return new Map(entries.map((e) => [e.key, idOf(e.st)]));
}

/** Lists `root` now, for {@link changedSince} and {@link snapshotTree}. */
export function scanTree(root: string): TreeEntry[] {
  const { entries, restore } = listTree(root);
  restore();
  return entries;
}

/** True when `entries` differ from `baseline` in any entry (added, removed, changed, re-moded). */
export function changedSince(baseline: Baseline, entries: readonly TreeEntry[]): boolean {
  if (entries.length !== baseline.size) return true;
  for (const e of entries) {
    const b = baseline.get(e.key);
    if (b === undefined) return true;
    if (e.st.isDirectory() ? b.mode !== e.st.mode : !same(b, e.st)) return true;
  }
  return false;
}

function mkfifo(path: FsPath, mode: number): void {
  // a deep path (/proc/self/fd/N/NAME, see fsJoin) names this process's fd: the child gets it as
  // its working directory (fds are still open between fork and exec) and the name alone
  const p = Buffer.isBuffer(path) ? path : Buffer.from(path);
  const slash = p.lastIndexOf(0x2f);
  const deep = p.subarray(0, 14).toString('latin1') === '/proc/self/fd/';
  const name = deep ? p.subarray(slash + 1).toString() : p.toString();
  execFileSync('mkfifo', ['-m', (mode & 0o7777).toString(8), '--', name], { stdio: 'ignore', ...(deep ? { cwd: p.subarray(0, slash).toString() } : {}) });
}

/** Copies one non-directory entry (file, symlink, fifo) with its mode and times. */
function copyEntry(src: FsPath, dst: FsPath, st: Stats): number {
  if (st.isFile()) {
    copyFileKeepingHoles(src, dst);
    utimesSync(dst, st.atime, st.mtime);
    return st.size;
  }
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src, { encoding: 'buffer' }), dst);
    lutimesSync(dst, st.atime, st.mtime);
    return 0;
  }
  if (st.isFIFO()) mkfifo(dst, st.mode);
  return 0;
}

/** Gives the directories (relative to `root`) their times, deepest first (paths are made here: fsJoin's contract). */
function setDirTimes(root: string, dirs: Array<[Buffer, Stats]>): void {
  for (const [rel, st] of dirs.reverse()) utimesSync(fsJoin(root, rel), st.atime, st.mtime);
}

/**
 * Copies `tree` into `work` (an existing empty directory, or a missing one) as real data (reflinks
 * where the filesystem has them), keeping modes, times, symlinks and the hard links inside the
 * tree, and returns the baseline of the copy. Sockets are not copied.
 */
export function materialize(tree: string, work: string): Baseline {
  mkdirSync(work, { recursive: true });
  const { entries, restore } = listTree(tree);
  try {
    const dirs: Array<[Buffer, Stats]> = [];
    const firstOf = new Map<number, Buffer>();
    for (const e of entries) {
      const st = e.st;
      if (st.isDirectory()) {
        mkdirSync(fsJoin(work, e.rel), { mode: (st.mode & 0o7777) | 0o700 });
        dirs.push([e.rel, st]);
        continue;
      }
      if (st.isSocket()) continue;
      const first = st.nlink > 1 && !st.isDirectory() ? firstOf.get(st.ino) : undefined;
      if (first !== undefined) {
        linkSync(fsJoin(work, first), fsJoin(work, e.rel));
        continue;
      }
      copyEntry(fsJoin(tree, e.rel), fsJoin(work, e.rel), st);
      if (st.nlink > 1) firstOf.set(st.ino, e.rel);
    }
    setDirTimes(work, dirs);
  } finally {
    restore();
  }
  return baselineOf(work);
}

/**
 * Writes `out` (must not exist) as a snapshot of `work`: files and symlinks whose identity equals
 * `baseline` are hard links to the same path in `parentTree` (which `baseline` describes), the rest
 * are copies; directories are new, with u+rwx (their real modes belong in the ownership table).
 * Falls back to a copy when a link fails (EMLINK, a filesystem without links). Returns the stats
 * and the new baseline of `work` (now described by `out`).
 */
export function snapshotTree(work: string, entries: readonly TreeEntry[], baseline: Baseline, parentTree: string | undefined, out: string): { stats: SnapshotStats; baseline: Baseline } {
  const started = performance.now();
  const stats: SnapshotStats = { entries: 0, linked: 0, copied: 0, dirs: 0, bytesCopied: 0, diskBytes: 0, ms: 0 };
  mkdirSync(out, { mode: 0o755 });
  const dirs: Array<[Buffer, Stats]> = [];
  const firstOf = new Map<number, Buffer>();
  const next: Baseline = new Map();
  for (const e of entries) {
    const st = e.st;
    next.set(e.key, idOf(st));
    stats.entries++;
    if (st.isDirectory()) {
      mkdirSync(fsJoin(out, e.rel), { mode: (st.mode & 0o7777) | 0o700 });
      dirs.push([e.rel, st]);
      stats.dirs++;
      continue;
    }
    if (st.isSocket()) continue;
    const first = st.nlink > 1 ? firstOf.get(st.ino) : undefined;
    if (first !== undefined) {
      linkSync(fsJoin(out, first), fsJoin(out, e.rel));
      continue;
    }
    let linked = false;
    if (parentTree !== undefined && same(baseline.get(e.key), st)) {
      try {
        linkSync(fsJoin(parentTree, e.rel), fsJoin(out, e.rel));
        linked = true;
      } catch (err) {
        if (!isErrno(err, 'EMLINK') && !isErrno(err, 'ENOENT') && !isErrno(err, 'EPERM') && !isErrno(err, 'EXDEV')) throw err;
      }
    }
    if (linked) stats.linked++;
    else {
      stats.bytesCopied += copyEntry(fsJoin(work, e.rel), fsJoin(out, e.rel), st);
      stats.copied++;
      stats.diskBytes += lstatSync(fsJoin(out, e.rel)).blocks * 512;
    }
    if (st.nlink > 1) firstOf.set(st.ino, e.rel);
  }
  setDirTimes(out, dirs);
  for (const [rel] of dirs) stats.diskBytes += lstatSync(fsJoin(out, rel)).blocks * 512;
  stats.ms = Math.round(performance.now() - started);
  return { stats, baseline: next };
}

/**
 * A fingerprint of a tree's identity (not its content): the sha256 of every entry's path, mode
 * and, for non-directories, inode, ctime, mtime and size. A write, a chmod, a new or removed entry
 * changes it; reading does not. Empty files, and directories holding nothing else, are left out:
 * the userns engine creates them as mount points (/etc/resolv.conf, $HOME, bind targets) when a
 * command runs in the env, and that must not make a cooked env look changed. Used to tell that an
 * env is still as cooked without reading its files.
 */
export function fingerprint(root: string): string {
  const { entries, restore } = listTree(root);
  restore();
  entries.sort((a, b) => Buffer.compare(a.rel, b.rel));
  // hollow: an empty file, or a directory holding only hollow entries (children sort after parents)
  const solid = new Set<string>();
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const key = e.rel.toString('latin1');
    if (e.st.isDirectory() ? !solid.has(key) : e.st.isFile() && e.st.size === 0) continue;
    solid.add(key);
    const slash = e.rel.lastIndexOf(0x2f);
    if (slash > 0) solid.add(e.rel.subarray(0, slash).toString('latin1'));
  }
  const h = createHash('sha256');
  for (const e of entries) {
    const st = e.st;
    if (!solid.has(e.rel.toString('latin1'))) continue;
    h.update(e.rel);
    h.update(st.isDirectory() ? `\0${st.mode}\n` : `\0${st.mode} ${st.ino} ${st.ctimeMs} ${st.mtimeMs} ${st.size}\n`);
  }
  return h.digest('hex');
}

/**
 * A seal of a tree that nothing may change (a cache snapshot): the sha256 of every entry's path,
 * mode and, for non-directories, inode, mtime and size, sorted by path. Unlike
 * {@link fingerprint} it leaves out ctimes (a hard link made to a file by a later snapshot changes
 * its ctime, not the file) and keeps every entry. A file edited, replaced, truncated, added or
 * removed by hand breaks the seal; reading does not.
 */
export function treeSeal(root: string): string {
  const entries = scanTree(root).sort((a, b) => Buffer.compare(a.rel, b.rel));
  const h = createHash('sha256');
  for (const e of entries) {
    const st = e.st;
    h.update(e.rel);
    h.update(st.isDirectory() ? `\0${st.mode}\n` : `\0${st.mode} ${st.ino} ${st.mtimeMs} ${st.size}\n`);
  }
  return h.digest('hex');
}

/** The file type bits of a mode, for comparing entry kinds. */
export function typeBits(mode: number): number {
  return mode & S_IFMT;
}
