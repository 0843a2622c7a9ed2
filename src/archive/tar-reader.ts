/**
 * A push parser for tar streams (ustar, GNU, PAX, v7, star) that hands out exact bytes.
 *
 * Written instead of tar-stream's extract(), whose differentials (docs/ARCHITECTURE.md, "Why cake
 * reads tar itself"; checked by experiment) matter here: it reports GNU sparse ('S') entries as `type: null` without the map,
 * reads `size` bytes after hard links and directories (GNU tar and Go read none: entries can be
 * smuggled), merges a PAX global `path` into later entries, and decodes PAX paths as UTF-8 with
 * U+FFFD (different names collide). Here names stay bytes (binary strings), global headers never
 * name or size an entry, every GNU sparse format (old, PAX 0.0, 0.1, 1.0) becomes positioned
 * writes, and the first zero block ends the archive (as GNU tar); what follows is drained unparsed.
 */
import { BLOCK, badArchive, MAX_META_SIZE, checkSparseMap, checksumOk, isZeroBlock, padding, parsePax,
  parseSparse10, readNumber, readOldSparse, readString, type PaxRecords, type Segment } from './tar-header.js';
import { decodeEntry, show, type EntryHandler, type EntrySink, type TarEntry } from './tar-entry.js';
import { CakeError } from '../model/errors.js';

export { show, type EntryHandler, type EntrySink, type EntryType, type TarEntry } from './tar-entry.js';

type State = 'header' | 'meta' | 'sparseExt' | 'sparseMap' | 'data' | 'pad' | 'eof';

const bad = (message: string) => badArchive(message);

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
  private readonly global = new Map<string, string>();
  private entryStart = -1;
  private pending: TarEntry | null = null;
  private sparseStored = 0;
  private entries = 0;

  constructor(private readonly onEntry: EntryHandler) {}

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

  /**
   * The input ended: throws 'bad-archive' when it ended inside an entry. A missing end marker is
   * accepted, and so are extended headers with no member after them (GNU tar reads Go's
   * pax-path-hdr.tar as an empty archive).
   */
  end(): void {
    if (this.state === 'eof') return;
    if (this.state === 'header' && this.blockFill === 0) return;
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
          ? 'not a tar archive (no valid tar header at its start) and not in a compression format cake knows (gzip, xz, zstd, bzip2, lzip, lzma, lzop, lz4, compress)'
          : `invalid tar header at byte ${at}: checksum mismatch (the archive is damaged or truncated there)`,
      );
    }
    if (this.entryStart < 0) this.entryStart = at;
    const flag = String.fromCharCode(buf[off + 156]!);
    const size = namingEntry(buf, off, () => readNumber(buf, off + 124, 12, 'size'));
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
    const { entry, kind, dataSize, sparse } = namingEntry(buf, off, () => decodeEntry(buf, off, this.entryStart, {
      longName: this.longName,
      longLink: this.longLink,
      pax: this.pax,
      global: this.global,
    }));
    this.longName = this.longLink = this.pax = null;
    this.entryStart = -1;
    this.remaining = dataSize;
    this.padLeft = padding(dataSize);
    this.segments = null;
    if (sparse === null) {
      // dumpdir and skipped vendor types: their data, if any, is discarded
      this.sink = kind === 'skip' ? null : this.onEntry(entry);
      this.startData();
      return;
    }
    this.pending = entry;
    this.sparseStored = dataSize;
    if (sparse.kind === 'inline') {
      this.meta = Buffer.alloc(0);
      this.state = 'sparseMap';
      return;
    }
    this.segments = sparse.map;
    if (sparse.kind === 'old' && sparse.extended) this.state = 'sparseExt';
    else this.beginSparse();
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
      case 'X':
        // Consecutive extended headers: the last one wins whole, as in GNU tar and bsdtar (merging
        // them made tar-split's pax-multi-hdrs.tar name another file than they extract).
        this.pax = parsePax(data);
        break;
      case 'g': {
        // decodeEntry takes only uid, gid and mtime from these: never a name, link or size
        for (const [k, val] of parsePax(data).values) {
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

/** Runs `fn`; a malformed header field it meets is refused naming the entry (its header name). */
function namingEntry<T>(buf: Buffer, off: number, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof CakeError) || !err.message.startsWith('tar header ')) throw err;
    throw bad(`archive entry "${show(readString(buf, off, 100))}": ${err.message.slice('tar header '.length)}`);
  }
}
