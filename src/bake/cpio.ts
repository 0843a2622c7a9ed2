/**
 * A writer of "newc" cpio archives, the format the Linux kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII header
 * (`070701` and 13 fields of 8 hex digits), the name with its NUL padded to a multiple of 4, then
 * the data padded to a multiple of 4; a `TRAILER!!!` entry ends the archive. Pure: the same
 * entries give the same bytes (sorted by name, inode numbers assigned in that order, one mtime).
 */
import { CakeError } from '../model/errors.js';

export type CpioType = 'file' | 'dir' | 'symlink' | 'char' | 'block';

export interface CpioEntry {
  /** Relative, no leading or trailing '/', no '.' or '..' components. */
  path: string;
  type: CpioType;
  /** Permission bits (0o7777). */
  mode: number;
  uid?: number;
  gid?: number;
  /** File contents. */
  data?: Buffer;
  /** Symlink target. */
  target?: string;
  /** Device numbers of char and block nodes. */
  rdev?: [number, number];
}

const TYPE_BITS: Record<CpioType, number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, char: 0o020000, block: 0o060000 };
const TRAILER = 'TRAILER!!!';

/**
 * The archive of `entries`, sorted by path (byte order, so a directory precedes its contents),
 * every mtime set to `mtime`, padded to a multiple of 512 bytes. Throws CakeError('internal') for
 * a bad or duplicate path, and for parents that are not listed as directories.
 */
export function writeCpio(entries: readonly CpioEntry[], mtime: number): Buffer {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const dirs = new Set<string>();
  const parts: Buffer[] = [];
  let ino = 0;
  let prev = '';
  for (const e of sorted) {
    checkPath(e.path);
    if (e.path === prev) throw new CakeError('internal', `cpio: duplicate entry ${e.path}`);
    prev = e.path;
    const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
    if (parent !== '' && !dirs.has(parent)) throw new CakeError('internal', `cpio: ${e.path} comes without its directory ${parent}`);
    if (e.type === 'dir') dirs.add(e.path);
    const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : e.type === 'symlink' ? Buffer.from(e.target ?? '') : Buffer.alloc(0);
    if (e.type === 'symlink' && data.length === 0) throw new CakeError('internal', `cpio: symlink ${e.path} without a target`);
    const [major, minor] = e.type === 'char' || e.type === 'block' ? (e.rdev ?? [0, 0]) : [0, 0];
    parts.push(
      header(
        {
          ino: ++ino,
          mode: TYPE_BITS[e.type] | (e.mode & 0o7777),
          uid: e.uid ?? 0,
          gid: e.gid ?? 0,
          nlink: e.type === 'dir' ? 2 : 1,
          mtime,
          size: data.length,
          rmajor: major,
          rminor: minor,
        },
        e.path,
      ),
      data,
      pad(data.length),
    );
  }
  parts.push(header({ ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0, rmajor: 0, rminor: 0 }, TRAILER));
  const body = Buffer.concat(parts);
  const total = Math.ceil(body.length / 512) * 512;
  return Buffer.concat([body, Buffer.alloc(total - body.length)]);
}

interface HeaderFields {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  rmajor: number;
  rminor: number;
}

function header(f: HeaderFields, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const fields = [f.ino, f.mode, f.uid, f.gid, f.nlink, f.mtime, f.size, 0, 0, f.rmajor, f.rminor, nameBytes.length + 1, 0];
  const text = '070701' + fields.map(hex8).join('');
  const head = Buffer.concat([Buffer.from(text, 'latin1'), nameBytes, Buffer.alloc(1)]);
  return Buffer.concat([head, pad(head.length)]);
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CakeError('internal', `cpio: field value ${n} does not fit 32 bits`);
  return n.toString(16).toUpperCase().padStart(8, '0');
}

function pad(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function checkPath(p: string): void {
  if (p === '' || p.startsWith('/') || p.endsWith('/') || p.includes('\0') || p.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw new CakeError('internal', `cpio: bad entry path ${JSON.stringify(p)}`);
  }
}
