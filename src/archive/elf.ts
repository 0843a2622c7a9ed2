/**
 * A small, defensive ELF reader: just what a runtime closure needs. Reads ELF32 and ELF64 in
 * either byte order: the file type, the machine, PT_INTERP, and from PT_DYNAMIC the DT_NEEDED,
 * DT_RPATH, DT_RUNPATH, DT_SONAME and DT_FLAGS_1 entries (strings read from DT_STRTAB, mapped
 * from its virtual address to a file offset through the PT_LOAD segments). Every offset and
 * count is bounds-checked: a hostile file gives an ElfError, never a crash or a huge read.
 */
import { closeSync, fstatSync, openSync, readSync, constants as C } from 'node:fs';
import { CakeError } from '../model/errors.js';

export const ET_EXEC = 2;
export const ET_DYN = 3;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;
/** DF_1_PIE: a position-independent executable (static-pie has it and no PT_INTERP). */
export const DF_1_PIE = 0x08000000;

const MAX_PHNUM = 4096;
const MAX_DYN = 65536;
const MAX_STR = 4096;

/** What a closure needs to know about one ELF file. */
export interface ElfInfo {
  bits: 32 | 64;
  endian: 'le' | 'be';
  /** e_type: ET_EXEC, ET_DYN, ... */
  type: number;
  /** e_machine */
  machine: number;
  /** EI_OSABI, to tell apart ABIs that share a machine */
  osabi: number;
  /** PT_INTERP: the program interpreter (dynamic loader) path, when there is one. */
  interp?: string;
  /** DT_NEEDED in order. */
  needed: string[];
  /** DT_RPATH split at ':' (only searched when there is no DT_RUNPATH, as glibc does). */
  rpath: string[];
  /** DT_RUNPATH split at ':'. */
  runpath: string[] | undefined;
  soname?: string;
  flags1: number;
}

/** Random access to the bytes of a file (a descriptor or a buffer in tests). */
export interface ByteSource {
  size: number;
  /** Reads exactly `length` bytes at `offset`, or throws. */
  read(offset: number, length: number): Buffer;
}

export function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > buf.length) throw malformed('a read past the end of the file');
      return buf.subarray(offset, offset + length);
    },
  };
}

function malformed(why: string): CakeError {
  return new CakeError('bad-archive', `malformed ELF file: ${why}`);
}

/** True when the first bytes are the ELF magic. */
export function isElfMagic(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

class Reader {
  constructor(readonly src: ByteSource, readonly le: boolean, readonly wide: boolean) {}
  u16(b: Buffer, at: number): number {
    return this.le ? b.readUInt16LE(at) : b.readUInt16BE(at);
  }
  u32(b: Buffer, at: number): number {
    return this.le ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }
  /** A 64-bit field as a number; values beyond 2^53 are refused (no real file has them). */
  u64(b: Buffer, at: number): number {
    const v = this.le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('a 64-bit field out of range');
    return Number(v);
  }
  /** A word: u32 in ELF32, u64 in ELF64. */
  word(b: Buffer, at: number): number {
    return this.wide ? this.u64(b, at) : this.u32(b, at);
  }
  /** A signed tag (d_tag) as a number; only small tags and the OS range matter. */
  tag(b: Buffer, at: number): number {
    if (!this.wide) return this.le ? b.readInt32LE(at) : b.readInt32BE(at);
    const v = this.le ? b.readBigInt64LE(at) : b.readBigInt64BE(at);
    return v > 0x7fffffffn || v < -0x80000000n ? -1 : Number(v);
  }
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

/**
 * Parses the ELF headers of `src`. Returns undefined when it is not an ELF file at all; throws
 * CakeError('bad-archive') when it claims to be one but its headers are inconsistent.
 */
export function parseElf(src: ByteSource): ElfInfo | undefined {
  if (src.size < 16) return undefined;
  const ident = src.read(0, 16);
  if (!isElfMagic(ident)) return undefined;
  const cls = ident[4];
  const data = ident[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) throw malformed(`unknown class ${cls} or data encoding ${data}`);
  const wide = cls === 2;
  const r = new Reader(src, data === 1, wide);
  const ehsize = wide ? 64 : 52;
  if (src.size < ehsize) throw malformed('truncated header');
  const eh = src.read(0, ehsize);
  const type = r.u16(eh, 16);
  const machine = r.u16(eh, 18);
  const phoff = wide ? r.u64(eh, 32) : r.u32(eh, 28);
  const phentsize = r.u16(eh, wide ? 54 : 42);
  const phnum = r.u16(eh, wide ? 56 : 44);
  const minEnt = wide ? 56 : 32;
  const info: ElfInfo = { bits: wide ? 64 : 32, endian: data === 1 ? 'le' : 'be', type, machine, osabi: ident[7]!, needed: [], rpath: [], runpath: undefined, flags1: 0 };
  if (phnum === 0) return info;
  if (phnum > MAX_PHNUM || phentsize < minEnt) throw malformed(`bad program header table (${phnum} entries of ${phentsize} bytes)`);
  if (phoff + phnum * phentsize > src.size) throw malformed('the program header table is past the end of the file');
  const ph = src.read(phoff, phnum * phentsize);
  const segs: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    segs.push(
      wide
        ? { type: r.u32(ph, at), offset: r.u64(ph, at + 8), vaddr: r.u64(ph, at + 16), filesz: r.u64(ph, at + 32) }
        : { type: r.u32(ph, at), offset: r.u32(ph, at + 4), vaddr: r.u32(ph, at + 8), filesz: r.u32(ph, at + 16) },
    );
  }
  const interp = segs.find((s) => s.type === PT_INTERP);
  if (interp) {
    if (interp.filesz === 0 || interp.filesz > MAX_STR || interp.offset + interp.filesz > src.size) throw malformed('bad PT_INTERP');
    info.interp = cString(src.read(interp.offset, interp.filesz), 0);
  }
  const dyn = segs.find((s) => s.type === PT_DYNAMIC);
  if (dyn) readDynamic(r, src, dyn, segs.filter((s) => s.type === PT_LOAD), info);
  return info;
}

function readDynamic(r: Reader, src: ByteSource, dyn: Segment, loads: Segment[], info: ElfInfo): void {
  const entsize = r.wide ? 16 : 8;
  const count = Math.min(Math.floor(dyn.filesz / entsize), MAX_DYN);
  if (dyn.offset + count * entsize > src.size) throw malformed('PT_DYNAMIC is past the end of the file');
  const d = src.read(dyn.offset, count * entsize);
  const needed: number[] = [];
  let strtab: number | undefined;
  let strsz: number | undefined;
  let soname: number | undefined;
  let rpath: number | undefined;
  let runpath: number | undefined;
  for (let i = 0; i < count; i++) {
    const at = i * entsize;
    const tag = r.tag(d, at);
    const val = r.word(d, at + (r.wide ? 8 : 4));
    if (tag === 0) break;
    if (tag === DT_NEEDED) needed.push(val);
    else if (tag === DT_STRTAB) strtab = val;
    else if (tag === DT_STRSZ) strsz = val;
    else if (tag === DT_SONAME) soname = val;
    else if (tag === DT_RPATH) rpath = val;
    else if (tag === DT_RUNPATH) runpath = val;
    else if (tag === DT_FLAGS_1) info.flags1 = val >>> 0;
  }
  if (strtab === undefined) {
    if (needed.length > 0 || soname !== undefined || rpath !== undefined || runpath !== undefined) throw malformed('dynamic strings without DT_STRTAB');
    return;
  }
  const seg = loads.find((s) => strtab! >= s.vaddr && strtab! < s.vaddr + s.filesz);
  if (!seg) throw malformed('DT_STRTAB is not inside a PT_LOAD segment');
  const base = seg.offset + (strtab - seg.vaddr);
  const limit = Math.min(seg.offset + seg.filesz, strsz !== undefined ? base + strsz : Infinity, src.size);
  if (base >= limit) throw malformed('empty or misplaced string table');
  const table = src.read(base, limit - base);
  const str = (off: number): string => {
    if (off >= table.length) throw malformed(`a string offset (${off}) outside the string table`);
    return cString(table, off);
  };
  info.needed = needed.map(str);
  if (soname !== undefined) info.soname = str(soname);
  if (rpath !== undefined) info.rpath = splitPath(str(rpath));
  if (runpath !== undefined) info.runpath = splitPath(str(runpath));
}

function splitPath(text: string): string[] {
  return text.split(':').filter((p) => p !== '');
}

function cString(buf: Buffer, at: number): string {
  let end = buf.indexOf(0, at);
  if (end < 0) end = buf.length;
  if (end - at > MAX_STR) throw malformed('an over-long string');
  return buf.toString('utf8', at, end);
}

/** Parses an ELF file on disk (reads only its headers, dynamic section and string table). Undefined when not ELF. */
export function readElfFile(path: string): ElfInfo | undefined {
  // O_NONBLOCK: a fifo must not block; only a regular file can be ELF
  const fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    const size = st.size;
    const src: ByteSource = {
      size,
      read(offset, length) {
        if (offset < 0 || length < 0 || offset + length > size) throw malformed('a read past the end of the file');
        const buf = Buffer.alloc(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, buf, done, length - done, offset + done);
          if (n === 0) throw malformed('the file shrank while it was read');
          done += n;
        }
        return buf;
      },
    };
    return parseElf(src);
  } finally {
    closeSync(fd);
  }
}

/** What kind of program an ELF file is, for placing it. */
export function elfRole(info: ElfInfo): 'dynamic-exe' | 'static-exe' | 'library' | 'other' {
  if (info.interp !== undefined) return 'dynamic-exe';
  if (info.type === ET_EXEC) return 'static-exe';
  if (info.type === ET_DYN) return info.flags1 & DF_1_PIE ? 'static-exe' : 'library';
  return 'other';
}
