/**
 * A push parser for tar streams (ustar, GNU, PAX, v7) that hands out exact bytes.
 *
 * Written instead of using tar-stream's extract() because of its parser differentials (see
 * research §3, checked by experiment): it gives GNU sparse ('S') entries `type: null` without the
 * sparse map (so they cannot be materialised), reads `size` bytes of data after hard links and
 * directories (GNU tar and Go read none: entries can be smuggled), merges a PAX global `path` into
 * later entries, and decodes PAX paths as UTF-8 with U+FFFD (different names collide).
 *
 * Here: names are binary strings (one char per byte) from every source (ustar, GNU L/K, PAX);
 * hard links and directories never carry data (as GNU tar and Go); symlinks, devices and fifos
 * with a non-zero size are refused (GNU tar reads data after them, Go does not: ambiguous);
 * PAX global headers never set path/linkpath/size; GNU sparse
 * in the old GNU, PAX 0.0, 0.1 and 1.0 formats is delivered as positioned writes; the first zero
 * block ends the archive (as GNU tar) and anything after it is drained unparsed.
 */
import { CakeError } from '../model/errors.js';
import {
  BLOCK,
  MAX_META_SIZE,
  checkSparseMap,
  checksumOk,
  isZeroBlock,
  padding,
  parsePax,
  parseSparse10,
  paxInteger,
  paxTime,
  readNumber,
  readOldSparse,
  readString,
  type PaxRecords,
  type Segment,
} from './tar-header.js';

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

export interface EntrySink {
  /** Data bytes `buf[start, end)`, to be written at file offset `pos`. */
  write(buf: Buffer, start: number, end: number, pos: number): void;
  /** All data of the entry was delivered. */
  end(): void;
}

/** Called once per entry, synchronously; returns where its data goes (null: discard it). */
export type EntryHandler = (entry: TarEntry) => EntrySink | null;

type State = 'header' | 'meta' | 'sparseExt' | 'sparseMap' | 'data' | 'pad' | 'eof';

const bad = (message: string) => new CakeError('bad-archive', message);

export class TarReader {
  /** bytes consumed so far */
  position = 0;
  private state: State = 'header';
  private block = Buffer.alloc(BLOCK);
  private blockFill = 0;
  private meta: Buffer = Buffer.alloc(0);
  private metaFill = 0;
  private metaType = '';
  private padLeft = 0;
  private remaining = 0;
  private sink: EntrySink | null = null;
  private segments: Segment[] | null = null;
  private segIndex = 0;
  private segLeft = 0;
  private filePos = 0;
  private longName: string | null = null;
  private longLink: string | null = null;
  private pax: PaxRecords | null = null;
  private global = new Map<string, string>();
  private entryStart = -1;
  private pending: TarEntry | null = null;
  private sparseStored = 0;
  private entries = 0;

  constructor(private readonly onEntry: EntryHandler) {}

  /** True once the end-of-archive marker was read. */
  get ended(): boolean {
    return this.state === 'eof';
  }

  /** The sink of the entry being written, if any (so a failing caller can close it). */
  get currentSink(): EntrySink | null {
    return this.sink;
  }

  write(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case 'eof':
          this.position += n - i;
          return;
        case 'header':
        case 'sparseExt':
        case 'sparseMap': {
          let buf: Buffer;
          let off: number;
          if (this.blockFill === 0 && n - i >= BLOCK) {
            buf = chunk;
            off = i;
          } else {
            const take = Math.min(BLOCK - this.blockFill, n - i);
            chunk.copy(this.block, this.blockFill, i, i + take);
            this.blockFill += take;
            i += take;
            this.position += take;
            if (this.blockFill < BLOCK) return;
            this.blockFill = 0;
            buf = this.block;
            off = 0;
            i -= BLOCK; // balanced by the common advance below
            this.position -= BLOCK;
          }
          i += BLOCK;
          this.position += BLOCK;
          if (this.state === 'header') this.header(buf, off);
          else if (this.state === 'sparseExt') this.sparseExt(buf, off);
          else this.sparseMap(buf, off);
          break;
        }
        case 'meta': {
          const take = Math.min(this.meta.length - this.metaFill, n - i);
          chunk.copy(this.meta, this.metaFill, i, i + take);
          this.metaFill += take;
          i += take;
          this.position += take;
          if (this.metaFill === this.meta.length) this.metaDone();
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, n - i);
          this.deliver(chunk, i, i + take);
          i += take;
          this.position += take;
          this.remaining -= take;
          if (this.remaining === 0) this.dataDone();
          break;
        }
        case 'pad': {
          const take = Math.min(this.padLeft, n - i);
          i += take;
          this.position += take;
          this.padLeft -= take;
          if (this.padLeft === 0) this.state = 'header';
          break;
        }
      }
    }
  }

  /** The input ended: throws 'bad-archive' when it ended inside an entry. A missing end marker is accepted. */
  end(): void {
    if (this.state === 'eof') return;
    if (this.state === 'header' && this.blockFill === 0 && this.entryStart < 0) return;
    throw bad(`truncated tar archive: the data ends inside an entry (at byte ${this.position})`);
  }

  private header(buf: Buffer, off: number): void {
    const at = this.position - BLOCK;
    if (isZeroBlock(buf, off)) {
      this.state = 'eof';
      return;
    }
    if (!checksumOk(buf, off)) {
      throw bad(
        at === 0 && this.entries === 0
          ? 'not a tar archive (the first header has a bad checksum)'
          : `invalid tar header at byte ${at}: checksum mismatch`,
      );
    }
    if (this.entryStart < 0) this.entryStart = at;
    const flag = String.fromCharCode(buf[off + 156]!);
    const size = readNumber(buf, off + 124, 12, 'size');
    if (size < 0) throw bad(`invalid tar header at byte ${at}: negative size`);

    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g' || flag === 'X') {
      if (size > MAX_META_SIZE) throw bad(`extended header at byte ${at} is too large (${size} bytes)`);
      this.metaType = flag;
      this.meta = Buffer.alloc(size);
      this.metaFill = 0;
      this.padLeft = padding(size);
      this.state = 'meta';
      if (size === 0) this.metaDone();
      return;
    }
    this.entries++;

    const magic = buf.toString('latin1', off + 257, off + 263);
    let name = readString(buf, off, 100);
    if (magic === 'ustar\u0000' && buf[off + 345] !== 0) {
      // star puts atime/ctime after a 131-byte prefix and "tar\0" at the end of the block
      const star = buf.toString('latin1', off + 508, off + 512) === 'tar\u0000';
      name = readString(buf, off + 345, star ? 131 : 155) + '/' + name;
    }
    const ustarish = magic === 'ustar\u0000' || magic === 'ustar ';
    const pax = this.pax?.values;
    const glob = this.global;
    const num = (key: string, field: number, len: number): number => {
      const v = pax?.get(key) ?? glob.get(key);
      return v !== undefined ? paxInteger(v, key) : readNumber(buf, off + field, len, key);
    };
    const paxPath = nonEmpty(pax?.get('path'));
    const paxLink = nonEmpty(pax?.get('linkpath'));
    const paxSize = pax?.get('size');
    const mtimeText = pax?.get('mtime') ?? glob.get('mtime');
    const entry: TarEntry = {
      type: 'file',
      path: paxPath ?? this.longName ?? name,
      linkpath: paxLink ?? this.longLink ?? readString(buf, off + 157, 100),
      mode: readNumber(buf, off + 100, 8, 'mode') & 0o7777,
      uid: num('uid', 108, 8),
      gid: num('gid', 116, 8),
      mtime: mtimeText !== undefined ? paxTime(mtimeText, 'mtime') : readNumber(buf, off + 136, 12, 'mtime'),
      size: 0,
      devmajor: ustarish && (flag === '3' || flag === '4') ? readNumber(buf, off + 329, 8, 'devmajor') : 0,
      devminor: ustarish && (flag === '3' || flag === '4') ? readNumber(buf, off + 337, 8, 'devminor') : 0,
      sparse: false,
      offset: this.entryStart,
    };
    let dataSize = paxSize !== undefined ? paxInteger(paxSize, 'size') : size;
    const records = this.pax;
    this.longName = this.longLink = this.pax = null;
    this.entryStart = -1;

    let type: EntryType | 'skip';
    switch (flag) {
      case '0':
      case '\u0000':
      case '7':
        type = entry.path.endsWith('/') ? 'dir' : 'file';
        break;
      case '1': type = 'hardlink'; break;
      case '2': type = 'symlink'; break;
      case '3': type = 'char'; break;
      case '4': type = 'block'; break;
      case '5': type = 'dir'; break;
      case '6': type = 'fifo'; break;
      case 'D': type = 'dir'; break; // GNU dumpdir: a directory whose data lists its contents
      case 'S': type = 'file'; break;
      case 'M': throw bad(`${show(entry.path)}: multi-volume tar archives are not supported`);
      default:
        // vendor extensions (A-Z) are metadata we do not need; POSIX says other unknown types are regular files
        type = flag >= 'A' && flag <= 'Z' ? 'skip' : 'file';
    }
    if (type === 'hardlink' || (type === 'dir' && flag !== 'D')) {
      dataSize = 0; // GNU tar and Go read no data after these whatever `size` says: neither do we
    } else if ((type === 'symlink' || type === 'char' || type === 'block' || type === 'fifo') && dataSize > 0) {
      // GNU tar reads `size` bytes after these, Go and libarchive none: whatever we did, some
      // reader would see other entries than we extract (entry smuggling), so refuse
      throw bad(`${show(entry.path)}: ambiguous ${type} entry with a non-zero size (${dataSize})`);
    }

    this.remaining = dataSize;
    this.padLeft = padding(dataSize);
    this.segments = null;
    if (type === 'skip' || type !== 'file') {
      if (type !== 'skip') {
        entry.type = type;
        this.sink = this.onEntry(entry);
      } else this.sink = null;
      this.startData(); // dirs (dumpdir) and skipped types: data, if any, is discarded
      return;
    }

    entry.size = dataSize;
    if (flag === 'S') {
      entry.sparse = true;
      entry.size = readNumber(buf, off + 483, 12, 'sparse realsize');
      const map: Segment[] = [];
      readOldSparse(buf, off + 386, 4, map);
      this.segments = map;
      this.sparseStored = dataSize;
      this.pending = entry;
      if (buf[off + 482]) this.state = 'sparseExt';
      else this.beginSparse();
      return;
    }
    if (records) {
      const v = records.values;
      const sparseName = nonEmpty(v.get('GNU.sparse.name'));
      const realText = v.get('GNU.sparse.realsize') ?? v.get('GNU.sparse.size');
      const major = v.get('GNU.sparse.major');
      const mapText = v.get('GNU.sparse.map');
      if (major !== undefined || mapText !== undefined || records.sparse00.length > 0 || realText !== undefined) {
        entry.sparse = true;
        if (sparseName !== undefined) entry.path = sparseName;
        if (realText === undefined) throw bad(`${show(entry.path)}: sparse entry without a real size`);
        entry.size = paxInteger(realText, 'GNU.sparse.realsize');
        this.pending = entry;
        if (major === '1') {
          if (v.get('GNU.sparse.minor') !== '0') throw bad(`${show(entry.path)}: unsupported GNU sparse format ${major}.${v.get('GNU.sparse.minor')}`);
          if (this.remaining === 0) throw bad(`${show(entry.path)}: sparse entry without its map`);
          this.meta = Buffer.alloc(0);
          this.state = 'sparseMap';
          return;
        }
        const nums = mapText !== undefined ? parseMapText(mapText) : records.sparse00;
        if (nums.length % 2 !== 0) throw bad(`${show(entry.path)}: odd number of values in the sparse map`);
        const map: Segment[] = [];
        for (let k = 0; k < nums.length; k += 2) map.push([nums[k]!, nums[k + 1]!]);
        this.segments = map;
        this.sparseStored = dataSize;
        this.beginSparse();
        return;
      }
    }
    this.sink = this.onEntry(entry);
    this.startData();
  }

  private sparseExt(buf: Buffer, off: number): void {
    const map = this.segments!;
    readOldSparse(buf, off, 21, map);
    if (map.length > 1_000_000) throw bad('sparse map is too large');
    if (!buf[off + 504]) this.beginSparse();
  }

  private sparseMap(buf: Buffer, off: number): void {
    this.meta = Buffer.concat([this.meta, buf.subarray(off, off + BLOCK)]);
    if (this.meta.length > 64 * 1024 * 1024) throw bad('sparse map is too large');
    const parsed = parseSparse10(this.meta);
    if (parsed === null) {
      if (this.meta.length >= this.remaining) throw bad(`${show(this.pending!.path)}: truncated sparse map`);
      return;
    }
    if (parsed.headerBytes > this.remaining) throw bad(`${show(this.pending!.path)}: truncated sparse map`);
    this.remaining -= parsed.headerBytes;
    this.segments = parsed.map;
    this.sparseStored = this.remaining;
    this.meta = Buffer.alloc(0);
    this.beginSparse();
  }

  private beginSparse(): void {
    const entry = this.pending!;
    this.pending = null;
    checkSparseMap(this.segments!, this.sparseStored, entry.size, show(entry.path));
    this.remaining = this.sparseStored;
    this.padLeft = padding(this.sparseStored);
    this.segIndex = -1;
    this.segLeft = 0;
    this.sink = this.onEntry(entry);
    this.startData();
  }

  private startData(): void {
    this.filePos = 0;
    this.segLeft = this.segments === null ? Infinity : 0;
    this.segIndex = -1;
    if (this.remaining > 0) {
      this.state = 'data';
      return;
    }
    this.dataDone();
  }

  private deliver(chunk: Buffer, start: number, end: number): void {
    const sink = this.sink;
    if (sink === null) return;
    while (start < end) {
      if (this.segLeft === 0) {
        const seg = this.segments![++this.segIndex]!;
        this.filePos = seg[0];
        this.segLeft = seg[1];
        continue;
      }
      const take = Math.min(end - start, this.segLeft);
      sink.write(chunk, start, start + take, this.filePos);
      start += take;
      this.filePos += take;
      this.segLeft -= take;
    }
  }

  private dataDone(): void {
    const sink = this.sink;
    this.sink = null;
    this.segments = null;
    this.state = this.padLeft > 0 ? 'pad' : 'header';
    sink?.end();
  }

  private metaDone(): void {
    const data = this.meta;
    this.meta = Buffer.alloc(0);
    this.state = this.padLeft > 0 ? 'pad' : 'header';
    switch (this.metaType) {
      case 'L':
        this.longName = readString(data, 0, data.length);
        break;
      case 'K':
        this.longLink = readString(data, 0, data.length);
        break;
      case 'x':
      case 'X': {
        const recs = parsePax(data);
        if (this.pax) {
          for (const [k, val] of recs.values) this.pax.values.set(k, val);
          this.pax.sparse00.push(...recs.sparse00);
        } else this.pax = recs;
        break;
      }
      case 'g': {
        // global records apply to later entries, except the ones naming or sizing one entry
        for (const [k, val] of parsePax(data).values) {
          if (k === 'path' || k === 'linkpath' || k === 'size' || k.startsWith('GNU.sparse.')) continue;
          if (val === '') this.global.delete(k);
          else this.global.set(k, val);
        }
        if (this.entryStart >= 0 && this.longName === null && this.longLink === null && this.pax === null) {
          this.entryStart = -1; // a global header is not part of the next entry
        }
        break;
      }
    }
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function parseMapText(text: string): number[] {
  if (text === '') return [];
  return text.split(',').map((t) => paxInteger(t, 'GNU.sparse.map'));
}

/** A binary-string name, shown for humans (UTF-8 decoded when possible). */
export function show(binary: string): string {
  const s = Buffer.from(binary, 'latin1').toString('utf8');
  return s.length > 200 ? s.slice(0, 200) + '…' : s;
}
