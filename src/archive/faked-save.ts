/**
 * fakeroot's faked save file, the channel between cake's ownership table and the guest's
 * libfakeroot: cake writes one for `faked --load` from the table (so programs inside see the real
 * owners) and reads the one faked writes when it stops (what they chown'ed, chmod'ed, mknod'ed).
 *
 * Format (fakeroot 1.31, checked by experiment), one line per inode:
 *   dev=fe00,ino=2147297,mode=104755,uid=1,gid=42,nlink=1,rdev=0
 * dev in hex, mode in octal (file type included), the others in decimal; rdev is the glibc dev_t.
 */
import { lstatSync } from 'node:fs';
import { CakeError } from '../model/errors.js';
import { bytesFromKey, type OwnershipTable } from '../model/ownership.js';

export interface FakedEntry {
  dev: bigint;
  ino: bigint;
  /** st_mode with the file type bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: bigint;
}

const LINE = /^dev=([0-9a-f]+),ino=(\d+),mode=([0-7]+),uid=(\d+),gid=(\d+),nlink=(\d+),rdev=(\d+)$/i;

/** Parses a faked save file. Blank lines are skipped; anything else malformed is CakeError('bad-archive'). Pure. */
export function parseFakedSave(text: string): FakedEntry[] {
  const out: FakedEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const m = LINE.exec(line);
    if (m === null) throw new CakeError('bad-archive', `fakeroot save file, line ${i + 1}: unexpected ${JSON.stringify(line.slice(0, 80))}`);
    out.push({
      dev: BigInt(`0x${m[1]}`),
      ino: BigInt(m[2]!),
      mode: parseInt(m[3]!, 8),
      uid: Number(m[4]),
      gid: Number(m[5]),
      nlink: Number(m[6]),
      rdev: BigInt(m[7]!),
    });
  }
  return out;
}

/** The save file text of `entries` (what `faked --load` reads on stdin). Pure. */
export function formatFakedSave(entries: readonly FakedEntry[]): string {
  return entries
    .map((e) => `dev=${e.dev.toString(16)},ino=${e.ino},mode=${e.mode.toString(8)},uid=${e.uid},gid=${e.gid},nlink=${e.nlink},rdev=${e.rdev}\n`)
    .join('');
}

/** glibc's dev_t encoding (gnu_dev_major/minor): major 12 bits at 8 plus the rest at 32, minor 8 bits at 0 plus 12 at 20. Pure. */
export function decodeDev(dev: bigint): [number, number] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

/** The lookup key of an inode. */
export function inodeKey(dev: bigint, ino: bigint): string {
  return `${dev}:${ino}`;
}

/** One entry per inode, identical whatever the order they were saved in (for comparing saves). Pure. */
export function canonicalSave(entries: readonly FakedEntry[]): string {
  const byInode = new Map<string, FakedEntry>();
  for (const e of entries) byInode.set(inodeKey(e.dev, e.ino), e);
  return formatFakedSave([...byInode.values()].sort((a, b) => (a.dev !== b.dev ? (a.dev < b.dev ? -1 : 1) : a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0)));
}

export interface TableSnapshot {
  /** What faked should start from: each table entry that exists on disk, real owner and mode. */
  entries: FakedEntry[];
  /** Table key → inode key as it is now (the baseline for applyFakedOwnership). */
  baseline: Map<string, string>;
  /** Table key → the st_mode found on disk now (to see chmods that bypassed faked: run/unrecorded-modes.ts). */
  diskModes: Map<string, number>;
}

/**
 * The table as faked entries: each recorded path that exists under `root` (devices and fifos the
 * extractor could not create have no inode and are left to the table) gets its inode with the
 * recorded uid, gid and permission bits and the file type found on disk. Hard links give one
 * entry. Reads the tree (lstat), writes nothing.
 */
export function snapshotTable(root: string, table: OwnershipTable): TableSnapshot {
  const baseline = new Map<string, string>();
  const byInode = new Map<string, FakedEntry>();
  const diskModes = new Map<string, number>();
  for (const [key, rec] of Object.entries(table)) {
    const st = lstatSync(Buffer.concat([Buffer.from(root), Buffer.from('/'), bytesFromKey(key)]), { bigint: true, throwIfNoEntry: false });
    if (st === undefined) continue;
    const ik = inodeKey(st.dev, st.ino);
    baseline.set(key, ik);
    diskModes.set(key, Number(st.mode));
    if (rec.kind !== undefined) continue; // a placeholder: its record is not the file's
    byInode.set(ik, { dev: st.dev, ino: st.ino, mode: (Number(st.mode) & 0o170000) | (rec.mode & 0o7777), uid: rec.uid, gid: rec.gid, nlink: Number(st.nlink), rdev: 0n });
  }
  return { entries: [...byInode.values()], baseline, diskModes };
}
