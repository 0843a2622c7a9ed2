/**
 * Byte-level tar header fields: numbers (octal and base-256), checksums, PAX records, GNU sparse
 * maps, and the encoder used by the writer. Names stay raw bytes, carried as latin1 ("binary")
 * strings with one char per byte, so no decoding ever merges two different names.
 */
import { CakeError } from '../model/errors.js';

export const BLOCK = 512;

/** Largest PAX / GNU long-name payload we buffer: a hostile size cannot make us allocate more. */
export const MAX_META_SIZE = 4 * 1024 * 1024;

/** What to do about an archive cake cannot read: the one hint every 'bad-archive' refusal carries. */
export const BAD_ARCHIVE_HINT =
  'the archive is damaged, truncated or not a tar archive: check it with `tar -tvf FILE`; nothing was installed';

/** A 'bad-archive' CakeError: `message` names the entry (or the byte offset) and the reason. */
export function badArchive(message: string, hint = BAD_ARCHIVE_HINT): CakeError {
  return new CakeError('bad-archive', message, { hint });
}

const bad = (message: string): CakeError => badArchive(message);

/**
 * A numeric field: octal text or GNU base-256 (high bit of byte 0 set). Octal is read as GNU tar
 * reads it: one leading NUL skipped, then leading spaces, then digits up to the first space or NUL,
 * anything after that terminator ignored. So a field of several leading NULs is 0 (libarchive's
 * timestamp-overflow test has such a size field: GNU tar and bsdtar read 0, Go and cake used to
 * read 14 — and readers that disagree on a size disagree on where the next header starts).
 */
export function readNumber(buf: Buffer, off: number, len: number, what: string): number {
  const first = buf[off]!;
  if (first & 0x80) {
    // base-256: two's complement over the field with the marker bit removed (rare: BigInt is fine)
    let n = BigInt(first & 0x7f);
    for (let i = 1; i < len; i++) n = (n << 8n) | BigInt(buf[off + i]!);
    if (first & 0x40) n -= 1n << BigInt(8 * len - 1);
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw bad(`tar header ${what} is too large`);
    }
    return Number(n);
  }
  let i = off;
  const end = off + len;
  if (buf[i] === 0) i++; // GNU tar: "buggy tar of unknown vintage" put one NUL first when the field before overflowed
  while (i < end && buf[i] === 0x20) i++;
  let n = 0;
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === 0x20 || b === 0) break;
    if (b < 0x30 || b > 0x37) throw bad(`tar header field ${what} is not an octal number (${JSON.stringify(buf.toString('latin1', off, end).replace(/\0+$/, ''))})`);
    n = n * 8 + (b - 0x30);
  }
  return n;
}

/**
 * A uid or gid as GNU tar and bsdtar end up applying it: values that are not a valid id (negative,
 * or 0xffffffff, which is (uid_t)-1 and means "leave the owner alone" to chown) become 0, the
 * owner the extracting user (root in the env) gives every file.
 */
export function ownerId(n: number): number {
  return n < 0 || n >= 0xffffffff ? 0 : n;
}

/** A NUL-terminated text field as a binary string. */
export function readString(buf: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

export function isZeroBlock(buf: Buffer, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Verifies the header checksum (unsigned, or the signed sum some old tars wrote). */
export function checksumOk(buf: Buffer, off: number): boolean {
  let stored: number;
  try {
    stored = readNumber(buf, off + 148, 8, 'checksum');
  } catch {
    return false;
  }
  let unsigned = 8 * 0x20; // the checksum field counts as spaces
  for (let i = off; i < off + 148; i++) unsigned += buf[i]!;
  for (let i = off + 156; i < off + BLOCK; i++) unsigned += buf[i]!;
  if (stored === unsigned) return true;
  let high = 0; // bytes >= 0x80, for the signed sum some old tars wrote
  for (let i = 0; i < BLOCK; i++) if ((i < 148 || i >= 156) && buf[off + i]! >= 0x80) high++;
  return stored === unsigned - 256 * high;
}

export interface PaxRecords {
  /** Last value of each key (binary strings). */
  values: Map<string, string>;
  /** GNU sparse 0.0 repeats GNU.sparse.offset / GNU.sparse.numbytes; they are kept in order here. */
  sparse00: number[];
}

/** Parses "LEN KEY=VALUE\n" records. Values stay bytes (binary strings): paths are never re-decoded. */
export function parsePax(buf: Buffer): PaxRecords {
  const values = new Map<string, string>();
  const sparse00: number[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // NUL padding after the last record
    let sp = pos;
    let len = 0;
    while (sp < buf.length && buf[sp]! >= 0x30 && buf[sp]! <= 0x39 && sp - pos < 12) len = len * 10 + (buf[sp++]! - 0x30);
    if (sp === pos || buf[sp] !== 0x20 || len <= sp - pos + 1 || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) {
      throw bad(`malformed PAX record at byte ${pos} of an extended header`);
    }
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= pos + len - 1) throw bad('malformed PAX record: no "=" in it');
    const key = buf.toString('latin1', sp + 1, eq);
    let value = buf.toString('latin1', eq + 1, pos + len - 1);
    // names are C strings to GNU tar and bsdtar: a NUL ends them (binary values like xattrs stay whole)
    if ((key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname' || key === 'GNU.sparse.name') && value.includes('\u0000')) {
      value = value.slice(0, value.indexOf('\u0000'));
    }
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') sparse00.push(paxInteger(value, key));
    else values.set(key, value);
    pos += len;
  }
  return { values, sparse00 };
}

/** A non-negative decimal integer record value (any number of leading zeros, as GNU tar reads it). */
export function paxInteger(value: string, key: string): number {
  const digits = value.replace(/^0+(?=[0-9])/, '');
  if (!/^[0-9]{1,16}$/.test(digits)) throw bad(`PAX record ${key}=${JSON.stringify(value.slice(0, 40))} is not a valid number`);
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) throw bad(`PAX record ${key}=${value.slice(0, 40)} is too large`);
  return n;
}

/**
 * A PAX time: decimal seconds, optionally negative and fractional. Like GNU tar and bsdtar, a
 * valid leading number is used and a non-decimal tail ignored ("1234567890.5abc" → 1234567890.5);
 * a value with no number at all gives undefined (GNU tar then keeps the header's time).
 */
export function paxTime(value: string): number | undefined {
  const m = /^\s*(-?[0-9]{1,19}(?:\.[0-9]{0,19})?)/.exec(value);
  return m ? Number(m[1]) : undefined;
}

export type Segment = [offset: number, length: number];

/** Checks a sparse map against the stored size and the real size; returns it unchanged. */
export function checkSparseMap(map: Segment[], stored: number, realSize: number, name: string): Segment[] {
  let sum = 0;
  let end = 0;
  for (const [off, len] of map) {
    if (!(off >= end) || len < 0 || off + len > realSize) throw bad(`${name}: invalid sparse map (segment ${off}+${len})`);
    end = off + len;
    sum += len;
  }
  if (sum !== stored) throw bad(`${name}: sparse map covers ${sum} bytes but the entry stores ${stored}`);
  return map;
}

/** Reads the up-to-`count` (offset, numbytes) pairs of an old-GNU sparse header area. */
export function readOldSparse(buf: Buffer, off: number, count: number, map: Segment[]): void {
  for (let i = 0; i < count; i++) {
    const p = off + i * 24;
    if (buf[p] === 0) return; // unused slot
    map.push([readNumber(buf, p, 12, 'sparse offset'), readNumber(buf, p + 12, 12, 'sparse numbytes')]);
  }
}

/** Parses the decimal lines of a PAX 1.0 sparse map ("count\n" then "offset\nlength\n" pairs). Returns null until complete. */
export function parseSparse10(buf: Buffer): { map: Segment[]; headerBytes: number } | null {
  const nums: number[] = [];
  let pos = 0;
  let count = -1;
  while (count < 0 || nums.length < count * 2) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl === -1) return null;
    const text = buf.toString('latin1', pos, nl);
    if (!/^[0-9]{1,16}$/.test(text)) throw bad('invalid PAX 1.0 sparse map');
    const n = Number(text);
    if (count < 0) {
      if (n > 1_000_000) throw bad('PAX 1.0 sparse map is too large');
      count = n;
    } else nums.push(n);
    pos = nl + 1;
  }
  const map: Segment[] = [];
  for (let i = 0; i < nums.length; i += 2) map.push([nums[i]!, nums[i + 1]!]);
  return { map, headerBytes: Math.ceil(pos / BLOCK) * BLOCK };
}

export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
