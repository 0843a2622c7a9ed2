/**
 * Writes a rootfs as a deterministic tar with its real ownership: what `export` and `push` send.
 * Headers are written here (ustar plus PAX records when a value does not fit) rather than with
 * tar-stream's pack(), which turns mode 0 into 0644, overflows uids above 262143 to 0777777 and
 * re-encodes non-UTF-8 names as UTF-8.
 */
import { chmodSync, closeSync, constants as C, fstatSync, lstatSync, openSync, readSync, readlinkSync, type Stats } from 'node:fs';
import type { Writable } from 'node:stream';
import { CakeError } from '../model/errors.js';
import { bytesFromKey, keyFromBytes, lookupOwner, type OwnershipTable } from '../model/ownership.js';
import { encodeMember } from './tar-encode.js';
import { fsJoin, listTree, reach } from './tree-walk.js';
import { BLOCK, padding } from './tar-header.js';

interface Item {
  rel: Buffer;
  st: Stats | null;
  /** from the table when the entry is a device (or a fifo) that is not on disk */
  device?: { kind: 'char' | 'block' | 'fifo'; rdev: [number, number] };
}

const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(BLOCK * 2);

/**
 * Writes a deterministic tar of `root` to `out`: entries sorted by path (byte order), no entry for
 * the root itself, directories with a trailing '/', numeric ownership only (no user names).
 * Ownership and modes come from `ownership` ({@link lookupOwner}); device nodes (and fifos) that
 * exist only in the table are written as device entries; files sharing an inode become a file
 * then hard-link entries. When `sourceDateEpoch` is given every mtime is clamped to it (newer
 * ones become it, older ones are kept), so two runs over the same tree give identical bytes.
 * Names that do not fit ustar, or are not ASCII, and numbers that do not fit go to PAX records
 * (with hdrcharset=BINARY for names that are not UTF-8).
 *
 * Directories or files without read permission for the owner get it temporarily and their mode
 * back at the end. `out` is ended after the end-of-archive marker; on failure it is destroyed with
 * the error (the caller's pipeline then fails too). The tree must not change while it is written
 * (files that shrink are padded with zeros, growth is ignored).
 */
export async function writeTar(
  root: string,
  ownership: OwnershipTable,
  out: Writable,
  opts: { sourceDateEpoch?: number; signal?: AbortSignal } = {},
): Promise<{ entries: number; bytes: number }> {
  const restore: Array<[string | Buffer, number]> = [];
  try {
    const items = collect(root, ownership, restore);
    items.sort((a, b) => Buffer.compare(a.rel, b.rel));
    const w = new Output(out, opts.signal);
    const seen = new Map<string, Buffer>();
    let bytes = 0;
    for (const item of items) {
      if (opts.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
      bytes += await writeItem(w, root, ownership, item, seen, opts.sourceDateEpoch);
    }
    await w.write(ZEROS);
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => {
        out.off('error', reject);
        resolve();
      });
    });
    return { entries: items.length, bytes };
  } catch (err) {
    out.destroy(err as Error);
    throw err;
  } finally {
    for (const [p, mode] of restore.reverse()) {
      try {
        chmodSync(reach(p), mode);
      } catch {
        // best effort: the first error is the one reported
      }
    }
  }
}

function collect(root: string, table: OwnershipTable, restore: Array<[string | Buffer, number]>): Item[] {
  const items: Item[] = [];
  const index = new Map<string, number>();
  for (const { rel, st } of listTree(root, restore).entries) {
    if (st.isSocket()) continue; // tar cannot carry sockets; they are made at run time
    index.set(rel.toString('latin1'), items.length);
    items.push({ rel, st });
  }
  for (const key of Object.keys(table)) {
    const rec = table[key]!;
    if (rec.kind === undefined) continue;
    const rel = bytesFromKey(key);
    const device = { kind: rec.kind, rdev: rec.rdev ?? [0, 0] } as Item['device'] & object;
    const at = index.get(rel.toString('latin1'));
    if (at === undefined) items.push({ rel, st: null, device });
    else if (!items[at]!.st!.isDirectory()) items[at] = { rel, st: items[at]!.st, device }; // a placeholder file: the table knows better
  }
  return items;
}

async function writeItem(
  w: Output,
  root: string,
  table: OwnershipTable,
  item: Item,
  seen: Map<string, Buffer>,
  sde: number | undefined,
): Promise<number> {
  const { rel, st } = item;
  const key = keyFromBytes(rel);
  const own = lookupOwner(table, key, st ? st.mode : 0o644);
  let mtime = st ? Math.floor(st.mtimeMs / 1000) : (sde ?? 0);
  if (sde !== undefined && mtime > sde) mtime = sde;
  let name = rel;
  let typeflag = '0';
  let link: Buffer | null = null;
  let size = 0;
  let dev: [number, number] = [0, 0];
  if (item.device) {
    typeflag = item.device.kind === 'char' ? '3' : item.device.kind === 'block' ? '4' : '6';
    dev = item.device.rdev;
  } else if (st!.isDirectory()) {
    typeflag = '5';
    name = Buffer.concat([rel, Buffer.from('/')]);
  } else if (st!.isSymbolicLink()) {
    typeflag = '2';
    link = readlinkSync(fsJoin(root, rel), { encoding: 'buffer' });
  } else if (st!.isFIFO()) typeflag = '6';
  else if (st!.isCharacterDevice() || st!.isBlockDevice()) {
    typeflag = st!.isCharacterDevice() ? '3' : '4';
    dev = [Math.floor(st!.rdev / 256) & 0xfff, (st!.rdev & 0xff) | ((st!.rdev >> 12) & 0xfff00)];
  } else if (st!.nlink > 1) {
    const big = lstatSync(fsJoin(root, rel), { bigint: true });
    const id = `${big.dev}:${big.ino}`;
    const first = seen.get(id);
    if (first) {
      typeflag = '1';
      link = first;
    } else {
      seen.set(id, rel);
      size = st!.size;
    }
  } else size = st!.size;

  const mode = typeflag === '2' ? 0o777 : own.mode;
  const fields = { mode, uid: own.uid, gid: own.gid, size, mtime, typeflag, dev };
  for (const block of encodeMember(name, link, fields, rel)) await w.write(block);
  if (size > 0) await copyFile(w, fsJoin(root, rel), size, st!);
  return size;
}

async function copyFile(w: Output, p: string | Buffer, size: number, st: Stats): Promise<void> {
  let fd: number;
  // O_NONBLOCK: a file swapped for a fifo since it was listed must not block the export
  const flags = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
  try {
    fd = openSync(p, flags);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    chmodSync(p, (st.mode & 0o7777) | 0o400);
    try {
      fd = openSync(p, flags);
    } finally {
      chmodSync(p, st.mode & 0o7777);
    }
  }
  const now = fstatSync(fd);
  if (!now.isFile() || now.ino !== st.ino) {
    closeSync(fd);
    throw new CakeError('io', `${p.toString()} changed while the tree was being written`, { hint: 'run the command again when nothing runs in the environment' });
  }
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) {
        buf.fill(0); // the file shrank: keep the archive consistent with its header
        await w.write(buf);
        left -= buf.length;
        continue;
      }
      await w.write(n === buf.length ? buf : buf.subarray(0, n));
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  await w.pad(size);
}

/** Writes with backpressure; fails if `out` errors or closes early. */
class Output {
  private failed: Error | null = null;
  constructor(
    private readonly out: Writable,
    private readonly signal?: AbortSignal,
  ) {
    out.on('error', (err) => (this.failed ??= err));
  }

  async write(buf: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.signal?.aborted) throw new CakeError('interrupted', 'interrupted');
    if (this.out.destroyed) throw new CakeError('io', 'the output stream was closed before the archive was complete');
    if (this.out.write(buf)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.off('drain', ok);
        this.out.off('error', done);
        this.out.off('close', closed);
        if (err) reject(err);
        else resolve();
      };
      const ok = () => done();
      const closed = () => done(this.failed ?? new CakeError('io', 'the output stream was closed before the archive was complete'));
      this.out.once('drain', ok);
      this.out.once('error', done);
      this.out.once('close', closed);
    });
  }

  async pad(size: number): Promise<void> {
    const n = padding(size);
    if (n > 0) await this.write(ZEROS.subarray(0, n));
  }
}
