/**
 * Applies tar entries to the root one at a time (the per-entry half of extract.ts): replacing
 * what is in the way, writing file data, recording ownership, deferring directory mtimes.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, fchmodSync, fstatSync, ftruncateSync, futimesSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, renameSync, symlinkSync, utimesSync, writeSync, constants as C } from 'node:fs';
import { CakeError, isErrno } from '../model/errors.js';
import type { ExtractOptions, ExtractStats } from './extract.js';
import { getOwner, keyFromBytes, recordOwner, removeOwnerSubtree, setOwner, type OwnershipTable } from '../model/ownership.js';
import { SafeRoot, memberComponents, unsafe, type FsPath } from './safe-path.js';
import { show, type TarEntry } from './tar-entry.js';
import { entryError, fsTime } from './entry-errors.js';
import type { EntrySink } from './tar-reader.js';
import { applyWhiteout, WHITEOUT_PREFIX } from './whiteout.js';

const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

/** Applies entries one at a time; also the sink of the regular file being written. */
export class Extractor implements EntrySink {
  readonly stats: ExtractStats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devicesSkipped: 0, fifos: 0, bytes: 0, whiteouts: 0 };
  readonly fs: SafeRoot;
  readonly table: OwnershipTable;
  /** binary keys of what this archive created (OCI: whiteouts and opaque dirs only affect lower layers) */
  readonly created: Set<string> | null;
  private readonly strip: number;
  private readonly dirTimes = new Map<string, number>();
  private fd = -1;
  private fileKey = '';
  private fileEntry: TarEntry | null = null;
  private fifoSeq = 0;
  private notedAbsolute = false;
  /** permission bits the umask lets through creat()/mkdir(); special bits always need a chmod */
  private readonly keptByUmask = 0o777 & ~process.umask();

  constructor(private readonly opts: ExtractOptions) {
    this.fs = new SafeRoot(opts.root);
    this.table = opts.ownership;
    this.strip = opts.stripComponents ?? 0;
    this.created = opts.whiteouts ? new Set() : null;
    const created = this.created;
    if (created) this.fs.onCreateDir = (key) => created.add(key);
  }

  entry(e: TarEntry, position: number): EntrySink | null {
    this.stats.entries++;
    let sink: EntrySink | null = null;
    try {
      sink = this.apply(e);
    } catch (err) {
      if (err instanceof CakeError) throw err;
      throw entryError(e, err);
    }
    this.opts.onEntry?.(position);
    return sink;
  }

  private apply(e: TarEntry): EntrySink | null {
    if (!this.notedAbsolute && (e.path.startsWith('/') || (e.type === 'hardlink' && e.linkpath.startsWith('/')))) {
      this.notedAbsolute = true;
      const name = e.path.startsWith('/') ? e.path : e.linkpath;
      this.opts.onNote?.(`the archive names ${JSON.stringify(show(name))}${e.path.startsWith('/') ? '' : ' as a hard-link target'}: absolute names are extracted inside the env (leading '/' removed, as GNU tar does)`);
    }
    const comps = memberComponents(e.path, this.strip);
    if (comps === null) return null;
    if (comps.length === 0) {
      // the root itself ("./"): never replaced, never chmod'ed (CVE-2021-29136: a symlink named '.')
      if (e.type !== 'dir') throw unsafe(e.path, `the root entry is a ${e.type}, not a directory`);
      return null;
    }
    const name = comps[comps.length - 1]!;
    if (this.created && name.startsWith(WHITEOUT_PREFIX)) {
      this.stats.whiteouts++;
      applyWhiteout(this, comps, e.path);
      return null;
    }
    this.fs.walk(comps, comps.length - 1, true, e.path);
    const key = comps.length === 1 ? name : comps.join('/');
    this.created?.add(key);
    const p = this.fs.path(key);
    switch (e.type) {
      case 'file':
        return this.file(e, key, p);
      case 'dir':
        this.dir(e, key, p);
        return null;
      case 'symlink':
        this.symlink(e, key, p);
        return null;
      case 'hardlink':
        this.hardlink(e, key, p);
        return null;
      case 'fifo':
        this.fifo(e, key, p);
        return null;
      case 'char':
      case 'block':
        this.replace(key);
        setOwner(this.table, keyFromBytes(key), {
          uid: e.uid,
          gid: e.gid,
          mode: e.mode & 0o7777,
          kind: e.type,
          rdev: [e.devmajor, e.devminor],
        });
        this.stats.devicesSkipped++;
        return null;
    }
  }

  /** Removes what is at `key` (and its ownership records) before an entry of another kind takes its place. */
  replace(key: string): void {
    const st = this.fs.clear(key);
    if (st?.isDirectory()) removeOwnerSubtree(this.table, keyFromBytes(key));
  }

  private file(e: TarEntry, key: string, p: FsPath): EntrySink {
    const diskMode = e.mode | 0o600;
    // created with its final mode when the umask lets it through (saves an fchmod per file)
    const createMode = diskMode & 0o777;
    let fd: number;
    try {
      fd = openSync(p, CREATE_FLAGS, createMode);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      // never truncate in place: the old file may be a hard link shared with another name
      this.replace(key);
      fd = openSync(p, CREATE_FLAGS, createMode);
    }
    this.fd = fd;
    this.fileKey = key;
    this.fileEntry = e;
    this.stats.files++;
    this.stats.bytes += e.size;
    recordOwner(this.table, keyFromBytes(key), { uid: e.uid, gid: e.gid, mode: e.mode & 0o7777 }, diskMode);
    return this;
  }

  write(buf: Buffer, start: number, end: number, pos: number): void {
    while (start < end) {
      const n = writeSync(this.fd, buf, start, end - start, pos);
      start += n;
      pos += n;
    }
  }

  end(): void {
    const e = this.fileEntry!;
    const fd = this.fd;
    this.fd = -1;
    this.fileEntry = null;
    try {
      if (e.sparse) ftruncateSync(fd, e.size);
      // after the data: writing clears setuid/setgid
      const diskMode = e.mode | 0o600;
      if (diskMode !== (diskMode & this.keptByUmask)) fchmodSync(fd, diskMode);
      if (e.mode & 0o7000) {
        // the kernel may drop a bit (setgid for a group we are not in): record what is really there
        const real = fstatSync(fd).mode & 0o7777;
        if (real !== diskMode) setOwner(this.table, keyFromBytes(this.fileKey), { uid: e.uid, gid: e.gid, mode: e.mode & 0o7777 });
      }
      if (Number.isFinite(e.mtime)) futimesSync(fd, fsTime(e.mtime), fsTime(e.mtime));
    } finally {
      closeSync(fd);
    }
  }

  private dir(e: TarEntry, key: string, p: FsPath): void {
    const diskMode = e.mode | 0o700;
    let merged = false;
    try {
      mkdirSync(p, diskMode);
      this.fs.onCreateDir?.(key);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const st = lstatSync(p);
      if (!st.isDirectory()) {
        this.replace(key);
        mkdirSync(p, diskMode);
      } else merged = true; // a directory over a directory: keep its content, take the new attributes
    }
    // p was just made, or lstat'ed as a directory: not a symlink
    if (merged || diskMode !== (diskMode & this.keptByUmask)) chmodSync(p, diskMode);
    this.fs.markDir(key);
    this.stats.dirs++;
    recordOwner(this.table, keyFromBytes(key), { uid: e.uid, gid: e.gid, mode: e.mode & 0o7777 }, diskMode);
    if (Number.isFinite(e.mtime)) this.dirTimes.set(key, e.mtime);
  }

  private symlink(e: TarEntry, key: string, p: FsPath): void {
    if (e.linkpath === '') throw new CakeError('bad-archive', `archive entry ${JSON.stringify(show(e.path))}: symlink with an empty target`, { hint: 'no filesystem can hold a symlink to nothing (GNU tar refuses it too); nothing was installed' });
    if (e.linkpath.includes('\u0000')) throw new CakeError('bad-archive', `archive entry ${JSON.stringify(show(e.path))}: NUL byte in the symlink target`, { hint: 'a symlink target cannot contain a NUL byte: the archive is damaged or crafted; nothing was installed' });
    const target = Buffer.from(e.linkpath, 'latin1');
    try {
      symlinkSync(target, p);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      this.replace(key);
      symlinkSync(target, p);
    }
    this.stats.symlinks++;
    recordOwner(this.table, keyFromBytes(key), { uid: e.uid, gid: e.gid, mode: 0o777 }, 0o777);
    if (Number.isFinite(e.mtime)) lutimesSync(p, fsTime(e.mtime), fsTime(e.mtime));
  }

  private hardlink(e: TarEntry, key: string, p: FsPath): void {
    const t = memberComponents(e.linkpath, this.strip, e.path);
    if (t === null || t.length === 0) throw unsafe(e.path, `hard link to ${JSON.stringify(show(e.linkpath))}, which is not a file inside the root`);
    const tkey = t.join('/');
    if (tkey === key) return; // a link to itself: nothing to do
    const missing = () =>
      new CakeError('bad-archive', `archive entry ${JSON.stringify(show(e.path))}: hard link target ${JSON.stringify(show(e.linkpath))} does not exist`, {
        hint: 'a hard link must follow the file it links to in the archive (GNU tar refuses it too); nothing was installed',
      });
    // the target must be reached without symlinks (throws 'unsafe-archive' on one)
    const reachable = this.fs.walk(t, t.length - 1, false, e.path, `its hard-link target ${JSON.stringify(show(e.linkpath))}`);
    const st = reachable ? lstatSync(this.fs.path(tkey), { throwIfNoEntry: false }) : undefined;
    const tOwner = getOwner(this.table, keyFromBytes(tkey));
    if (st === undefined) {
      if (tOwner?.kind === 'char' || tOwner?.kind === 'block' || tOwner?.kind === 'fifo') {
        // a link to a device we could not create: the same device under another name
        this.replace(key);
        setOwner(this.table, keyFromBytes(key), { ...tOwner });
        this.stats.devicesSkipped++;
        return;
      }
      throw missing();
    }
    if (st.isSymbolicLink()) throw unsafe(e.path, `hard link to ${JSON.stringify(show(e.linkpath))}, which is a symlink`);
    if (!st.isFile() && !st.isFIFO()) throw unsafe(e.path, `hard link to ${JSON.stringify(show(e.linkpath))}, which is not a regular file`);
    const tp = this.fs.path(tkey);
    try {
      linkSync(tp, p);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      this.replace(key);
      linkSync(tp, p);
    }
    this.stats.hardlinks++;
    // one inode, one owner: the link shares the target's record
    if (tOwner) setOwner(this.table, keyFromBytes(key), { ...tOwner });
    else recordOwner(this.table, keyFromBytes(key), { uid: 0, gid: 0, mode: st.mode & 0o7777 }, st.mode);
  }

  private fifo(e: TarEntry, key: string, p: FsPath): void {
    // Node cannot mkfifo: make it under an ASCII name in the (verified) root, then rename it into place
    this.replace(key);
    const tmp = this.fs.path(`.cake-fifo-${process.pid}-${this.fifoSeq++}`);
    const diskMode = e.mode | 0o600;
    try {
      execFileSync('mkfifo', ['-m', (diskMode & 0o7777).toString(8), '--', tmp as string], { stdio: 'ignore' });
    } catch {
      // no mkfifo or a filesystem without fifos: keep it in the table, like a device
      setOwner(this.table, keyFromBytes(key), { uid: e.uid, gid: e.gid, mode: e.mode & 0o7777, kind: 'fifo' });
      this.stats.devicesSkipped++;
      return;
    }
    renameSync(tmp, p);
    this.stats.fifos++;
    recordOwner(this.table, keyFromBytes(key), { uid: e.uid, gid: e.gid, mode: e.mode & 0o7777 }, diskMode);
    if (Number.isFinite(e.mtime)) utimesSync(p, fsTime(e.mtime), fsTime(e.mtime));
  }

  /** Sets the deferred directory mtimes (children changed them while they were written). */
  finish(): void {
    for (const [key, mtime] of this.dirTimes) {
      const comps = key.split('/');
      if (!this.fs.walk(comps, comps.length - 1, false, key)) continue;
      const p = this.fs.path(key);
      if (lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) utimesSync(p, fsTime(mtime), fsTime(mtime));
    }
  }

  /** Releases the directory cache shared with other extractions into the same root. */
  close(): void {
    this.fs.close();
  }

  abort(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already failing: the first error is the one reported
      }
      this.fd = -1;
    }
  }
}
