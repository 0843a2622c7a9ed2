/**
 * Encoding tar members for the writer: ustar headers, with PAX records for whatever does not fit
 * (long or non-ASCII names and link targets, large ids, sizes and times). Deterministic: the same
 * member always gives the same bytes.
 */
import { BLOCK, padding } from './tar-header.js';

const USTAR_MAGIC = Buffer.from('ustar\u000000', 'latin1');

export interface RawHeader {
  /** binary string, at most 100 bytes (the writer moves longer names to PAX) */
  name: string;
  prefix?: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function writeOctal(buf: Buffer, off: number, len: number, n: number): void {
  // len-1 digits then NUL; callers move values that do not fit into PAX records
  buf.write(n.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  buf[off + len - 1] = 0;
}

/** Octal fits in a field of `len` bytes (len-1 digits). */
export function fitsOctal(n: number, len: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n < 8 ** (len - 1);
}

/** A ustar header block. Numbers must fit (see {@link fitsOctal}); the caller uses PAX otherwise. */
export function encodeHeader(h: RawHeader): Buffer {
  const buf = Buffer.alloc(BLOCK);
  buf.write(h.name, 0, 100, 'latin1');
  writeOctal(buf, 100, 8, h.mode & 0o7777);
  writeOctal(buf, 108, 8, h.uid);
  writeOctal(buf, 116, 8, h.gid);
  writeOctal(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, h.mtime);
  buf.write(h.typeflag, 156, 1, 'latin1');
  if (h.linkname) buf.write(h.linkname, 157, 100, 'latin1');
  USTAR_MAGIC.copy(buf, 257);
  writeOctal(buf, 329, 8, h.devmajor ?? 0);
  writeOctal(buf, 337, 8, h.devminor ?? 0);
  if (h.prefix) buf.write(h.prefix, 345, 155, 'latin1');
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0'), 148, BLOCK - 148, 'latin1');
  buf[154] = 0;
  buf[155] = 0x20;
  return buf;
}

/** One PAX record "LEN KEY=VALUE\n" with `value` as raw bytes. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), rest]);
}


export function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) return false;
  return true;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
function isUtf8(b: Buffer): boolean {
  if (isAscii(b)) return true;
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Splits an ASCII name into ustar prefix (≤155) and name (≤100) at a '/', or null. */
function splitUstar(name: string): [string, string] | null {
  if (name.length > 256) return null;
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) return [name.slice(0, i), name.slice(i + 1)];
  }
  return null;
}

/** A deterministic ASCII stand-in for the ustar field when the real value is in a PAX record. */
function asciiStub(b: Buffer, max: number): string {
  let s = '';
  for (let i = 0; i < b.length && s.length < max; i++) s += b[i]! >= 0x20 && b[i]! < 0x7f ? String.fromCharCode(b[i]!) : '_';
  return s;
}

export interface MemberFields {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  dev: [number, number];
}

/**
 * The header blocks of one member: a PAX 'x' header (padded) when needed, then the ustar header.
 * `name` and `link` are raw bytes; names that are not UTF-8 get hdrcharset=BINARY.
 */
export function encodeMember(name: Buffer, link: Buffer | null, f: MemberFields, stubName: Buffer): Buffer[] {
  const pax: Buffer[] = [];
  if (!isUtf8(name) || (link !== null && !isUtf8(link))) pax.push(paxRecord('hdrcharset', Buffer.from('BINARY')));
  let hName = '';
  let prefix = '';
  if (isAscii(name) && name.length <= 100) hName = name.toString('latin1');
  else {
    const split = isAscii(name) ? splitUstar(name.toString('latin1')) : null;
    if (split) [prefix, hName] = split;
    else {
      pax.push(paxRecord('path', name));
      hName = asciiStub(name, 100);
    }
  }
  let hLink = '';
  if (link) {
    if (isAscii(link) && link.length <= 100) hLink = link.toString('latin1');
    else {
      pax.push(paxRecord('linkpath', link));
      hLink = asciiStub(link, 100);
    }
  }
  const num = (k: string, v: number, len: number): number => {
    if (fitsOctal(v, len)) return v;
    pax.push(paxRecord(k, Buffer.from(String(v))));
    return 0;
  };
  const header: RawHeader = {
    name: hName,
    prefix,
    mode: f.mode,
    uid: num('uid', f.uid, 8),
    gid: num('gid', f.gid, 8),
    size: num('size', f.size, 12),
    mtime: num('mtime', f.mtime, 12),
    typeflag: f.typeflag,
    linkname: hLink,
    devmajor: fitsOctal(f.dev[0], 8) ? f.dev[0] : 0,
    devminor: fitsOctal(f.dev[1], 8) ? f.dev[1] : 0,
  };
  if (pax.length === 0) return [encodeHeader(header)];
  const body = Buffer.concat(pax);
  const paxHeader = encodeHeader({ name: 'PaxHeaders/' + asciiStub(stubName, 80), mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: header.mtime, typeflag: 'x' });
  return [paxHeader, body, Buffer.alloc(padding(body.length)), encodeHeader(header)];
}
