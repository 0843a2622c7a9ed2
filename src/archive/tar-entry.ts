/**
 * One member header (with the GNU long names and PAX records before it) decoded into an entry:
 * which name wins, which types carry data, and which sparse format applies.
 */
import { badArchive, ownerId, paxInteger, paxTime, readNumber, readOldSparse, readString, type PaxRecords, type Segment } from './tar-header.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  type: EntryType;
  /** the member name as in the archive, a binary string (not normalised) */
  path: string;
  /** symlink or hard-link target, a binary string ('' when none) */
  linkpath: string;
  mode: number;
  uid: number;
  gid: number;
  /** seconds since the epoch (may be fractional, from PAX) */
  mtime: number;
  /** size of the file once written (the real size for sparse files); 0 for non-files */
  size: number;
  devmajor: number;
  devminor: number;
  sparse: boolean;
  /** byte offset in the archive of the entry's first header (extended headers included) */
  offset: number;
}

/** What came before the member header: GNU 'L'/'K' names, local and global PAX records. */
export interface Extended {
  longName: string | null;
  longLink: string | null;
  pax: PaxRecords | null;
  global: Map<string, string>;
}

export type SparseLayout =
  | null
  /** old GNU 'S': map in the header, maybe continued in extension blocks */
  | { kind: 'old'; map: Segment[]; extended: boolean }
  /** PAX 0.0 / 0.1: map in the records */
  | { kind: 'records'; map: Segment[] }
  /** PAX 1.0: map at the start of the data */
  | { kind: 'inline' };

export interface Decoded {
  entry: TarEntry;
  /** 'skip': a vendor extension we read past */
  kind: EntryType | 'skip';
  /** bytes of data that follow the header in the archive */
  dataSize: number;
  sparse: SparseLayout;
}

const bad = (message: string) => badArchive(message);

/** A binary-string name, shown for humans (UTF-8 decoded when possible). */
export function show(binary: string): string {
  const s = Buffer.from(binary, 'latin1').toString('utf8');
  return s.length > 200 ? s.slice(0, 200) + '…' : s;
}

/**
 * Decodes the member header at `buf[off]` (checksum already verified, not an extended header).
 * Names: PAX path, else GNU long name, else ustar prefix/name. Hard links, directories, symlinks,
 * devices and fifos never carry data, whatever their size field says: GNU tar 1.34, bsdtar 3.6 and
 * Go all read the next header right after them (checked with a symlink of size 1024 followed by a
 * header: all three extract that header as an entry), so cake sees the entries they see. uid/gid
 * go through {@link ownerId}; a PAX mtime that is not a number falls back to the header's.
 */
export function decodeEntry(buf: Buffer, off: number, offset: number, ext: Extended): Decoded {
  const flag = String.fromCharCode(buf[off + 156]!);
  const magic = buf.toString('latin1', off + 257, off + 263);
  let name = readString(buf, off, 100);
  if (magic === 'ustar\u0000' && buf[off + 345] !== 0) {
    // star puts atime/ctime after a 131-byte prefix and "tar\0" at the end of the block
    const star = buf.toString('latin1', off + 508, off + 512) === 'tar\u0000';
    name = readString(buf, off + 345, star ? 131 : 155) + '/' + name;
  }
  const device = (magic === 'ustar\u0000' || magic === 'ustar ') && (flag === '3' || flag === '4');
  const pax = ext.pax?.values;
  const glob = ext.global;
  const num = (key: string, field: number, len: number): number => {
    const v = pax?.get(key) ?? glob.get(key);
    return ownerId(v !== undefined ? paxInteger(v, key) : readNumber(buf, off + field, len, key));
  };
  const mtimeText = pax?.get('mtime') ?? glob.get('mtime');
  const paxMtime = mtimeText !== undefined ? paxTime(mtimeText) : undefined;
  const paxSize = pax?.get('size');
  const entry: TarEntry = {
    type: 'file',
    path: nonEmpty(pax?.get('path')) ?? ext.longName ?? name,
    linkpath: nonEmpty(pax?.get('linkpath')) ?? ext.longLink ?? readString(buf, off + 157, 100),
    mode: readNumber(buf, off + 100, 8, 'mode') & 0o7777,
    uid: num('uid', 108, 8),
    gid: num('gid', 116, 8),
    mtime: paxMtime ?? readNumber(buf, off + 136, 12, 'mtime'),
    size: 0,
    devmajor: device ? readNumber(buf, off + 329, 8, 'devmajor') : 0,
    devminor: device ? readNumber(buf, off + 337, 8, 'devminor') : 0,
    sparse: false,
    offset,
  };
  let dataSize = paxSize !== undefined ? paxInteger(paxSize, 'size') : readNumber(buf, off + 124, 12, 'size');

  let kind: EntryType | 'skip';
  switch (flag) {
    case '0':
    case '\u0000':
    case '7':
      kind = entry.path.endsWith('/') ? 'dir' : 'file'; // old tars mark directories with a '/'
      break;
    case '1': kind = 'hardlink'; break;
    case '2': kind = 'symlink'; break;
    case '3': kind = 'char'; break;
    case '4': kind = 'block'; break;
    case '5': kind = 'dir'; break;
    case '6': kind = 'fifo'; break;
    case 'D': kind = 'dir'; break; // GNU dumpdir: a directory whose data lists its contents
    case 'S': kind = 'file'; break;
    case 'M': throw bad(`${show(entry.path)}: multi-volume tar archives are not supported`);
    default:
      // vendor extensions (A-Z) are metadata we do not need; POSIX says other unknown types are regular files
      kind = flag >= 'A' && flag <= 'Z' ? 'skip' : 'file';
  }
  if (kind === 'hardlink' || kind === 'symlink' || kind === 'char' || kind === 'block' || kind === 'fifo' || (kind === 'dir' && flag !== 'D')) dataSize = 0;
  if (kind !== 'skip') entry.type = kind;
  if (kind !== 'file') return { entry, kind, dataSize, sparse: null };

  entry.size = dataSize;
  if (flag === 'S') {
    entry.sparse = true;
    entry.size = readNumber(buf, off + 483, 12, 'sparse realsize');
    const map: Segment[] = [];
    readOldSparse(buf, off + 386, 4, map);
    return { entry, kind, dataSize, sparse: { kind: 'old', map, extended: buf[off + 482] !== 0 } };
  }
  const v = pax;
  if (v === undefined) return { entry, kind, dataSize, sparse: null };
  const realText = v.get('GNU.sparse.realsize') ?? v.get('GNU.sparse.size');
  const major = v.get('GNU.sparse.major');
  const mapText = v.get('GNU.sparse.map');
  const sparse00 = ext.pax!.sparse00;
  if (major === undefined && mapText === undefined && sparse00.length === 0 && realText === undefined) {
    return { entry, kind, dataSize, sparse: null };
  }
  entry.sparse = true;
  entry.path = nonEmpty(v.get('GNU.sparse.name')) ?? entry.path;
  if (realText === undefined) throw bad(`${show(entry.path)}: sparse entry without a real size`);
  entry.size = paxInteger(realText, 'GNU.sparse.realsize');
  if (major === '1') {
    const minor = v.get('GNU.sparse.minor');
    if (minor !== '0') throw bad(`${show(entry.path)}: unsupported GNU sparse format 1.${minor}`);
    if (dataSize === 0) throw bad(`${show(entry.path)}: sparse entry without its map`);
    return { entry, kind, dataSize, sparse: { kind: 'inline' } };
  }
  const nums = mapText !== undefined ? (mapText === '' ? [] : mapText.split(',').map((t) => paxInteger(t, 'GNU.sparse.map'))) : sparse00;
  if (nums.length % 2 !== 0) throw bad(`${show(entry.path)}: odd number of values in the sparse map`);
  const map: Segment[] = [];
  for (let k = 0; k < nums.length; k += 2) map.push([nums[k]!, nums[k + 1]!]);
  return { entry, kind, dataSize, sparse: { kind: 'records', map } };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

export interface EntrySink {
  /** Data bytes `buf[start, end)`, to be written at file offset `pos`. */
  write(buf: Buffer, start: number, end: number, pos: number): void;
  /** All data of the entry was delivered. */
  end(): void;
}

/** Called once per entry, synchronously; returns where its data goes (null: discard it). */
export type EntryHandler = (entry: TarEntry) => EntrySink | null;
