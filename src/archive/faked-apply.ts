/**
 * Turning what faked saved back into the ownership table: the tree is walked once, each path is
 * matched to faked's record of its inode, and records of paths replaced behind faked's back are
 * dropped. Shared by the bootstrap (dpkg under the guest's fakeroot) and the engine's ownership
 * recorder (programs run by `cake exec`/`enter` and recipe steps).
 */
import { lstatSync, readdirSync, unlinkSync, type BigIntStats } from 'node:fs';
import { decodeDev, inodeKey, type FakedEntry } from './faked-save.js';
import { bytesFromKey, keyFromBytes, recordOwner, setOwner, type OwnerRecord, type OwnershipTable } from '../model/ownership.js';

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const S_IFREG = 0o100000;

export interface ApplyOptions {
  /** Top-level entry names not to walk (cake's private build dirs). */
  skip: readonly string[];
  /** inode key of each table entry when the table was last right (after extraction). */
  baseline: ReadonlyMap<string, string>;
}

export interface ApplyStats {
  /** Paths in the tree (skipped dirs excluded). */
  paths: number;
  /** Paths whose ownership came from faked. */
  faked: number;
  /** Device nodes faked by mknod (recorded, their placeholder file removed). */
  devices: number;
  /** Table entries dropped because their path was replaced or removed since the baseline. */
  dropped: number;
}

/**
 * Rebuilds `table` from the tree at `root`: a path whose inode faked knows gets faked's owner and
 * mode; a path still holding the inode it had at the baseline keeps its record; any other record
 * is dropped (its path was replaced outside faked, or removed). A faked char/block device (mknod
 * under fakeroot leaves an empty regular file) becomes a device record and the placeholder is
 * removed, as the extractor does with device entries. Walks without following symlinks.
 */
export function applyFakedOwnership(root: string, entries: readonly FakedEntry[], table: OwnershipTable, opts: ApplyOptions): ApplyStats {
  const byInode = new Map<string, FakedEntry>();
  for (const e of entries) byInode.set(inodeKey(e.dev, e.ino), e);
  const old: OwnershipTable = { ...table };
  for (const k of Object.keys(table)) delete table[k];
  const stats: ApplyStats = { paths: 0, faked: 0, devices: 0, dropped: 0 };
  const kept = new Set<string>();

  const visit = (abs: Buffer, key: string, st: BigIntStats): void => {
    stats.paths++;
    const ik = inodeKey(st.dev, st.ino);
    const f = byInode.get(ik);
    if (f !== undefined) {
      const type = f.mode & S_IFMT;
      const placeholder = (type === S_IFCHR || type === S_IFBLK || type === S_IFIFO) && st.isFile() && st.size === 0n;
      if (placeholder) {
        // mknod under fakeroot leaves an empty file: record the node, drop the file (as the extractor does)
        const kind = type === S_IFCHR ? 'char' : type === S_IFBLK ? 'block' : 'fifo';
        const rec: OwnerRecord = { uid: f.uid, gid: f.gid, mode: f.mode & 0o7777, kind };
        if (kind !== 'fifo') rec.rdev = decodeDev(f.rdev);
        setOwner(table, key, rec);
        unlinkSync(abs);
        stats.faked++;
        stats.devices++;
        return;
      }
      if (sameKind(type, st)) {
        recordOwner(table, key, { uid: f.uid, gid: f.gid, mode: f.mode & 0o7777 }, Number(st.mode));
        stats.faked++;
        return;
      }
      // another kind of object than faked saw: a reused inode, faked's entry is stale
    }
    const prev = Object.hasOwn(old, key) ? old[key] : undefined;
    if (prev !== undefined && opts.baseline.get(key) === ik) {
      setOwner(table, key, prev);
      kept.add(key);
    }
  };

  const stack: Array<{ abs: Buffer; key: string }> = [{ abs: Buffer.from(root), key: '' }];
  while (stack.length > 0) {
    const { abs, key } = stack.pop()!;
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const childKey = key === '' ? keyFromBytes(name) : `${key}/${keyFromBytes(name)}`;
      if (key === '' && opts.skip.includes(childKey)) continue;
      const childAbs = Buffer.concat([abs, Buffer.from('/'), name]);
      const st = lstatSync(childAbs, { bigint: true, throwIfNoEntry: false });
      if (st === undefined) continue;
      visit(childAbs, childKey, st);
      if (st.isDirectory()) stack.push({ abs: childAbs, key: childKey });
    }
  }
  for (const [k, rec] of Object.entries(old)) {
    if (kept.has(k) || Object.hasOwn(table, k)) continue;
    // a device or fifo the extractor could not create has no file to find: keep it
    if (rec.kind !== undefined && lstatSync(hostPath(root, k), { throwIfNoEntry: false }) === undefined && !opts.skip.includes(k.split('/')[0]!)) {
      setOwner(table, k, rec);
      continue;
    }
    stats.dropped++;
  }
  return stats;
}

function sameKind(type: number, st: BigIntStats): boolean {
  switch (type) {
    case S_IFREG:
      return st.isFile();
    case 0o040000:
      return st.isDirectory();
    case 0o120000:
      return st.isSymbolicLink();
    case S_IFIFO:
      return st.isFIFO();
    default:
      return false;
  }
}

/** Inode keys of the table's paths as they are now (the baseline for {@link applyFakedOwnership}). */
export function snapshotInodes(root: string, table: OwnershipTable): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of Object.keys(table)) {
    const st = lstatSync(hostPath(root, key), { bigint: true, throwIfNoEntry: false });
    if (st !== undefined) out.set(key, inodeKey(st.dev, st.ino));
  }
  return out;
}

function hostPath(root: string, key: string): Buffer {
  return Buffer.concat([Buffer.from(root), Buffer.from('/'), bytesFromKey(key)]);
}
