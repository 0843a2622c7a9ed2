/**
 * Builds small but well-formed ELF files for tests: a header, PT_LOAD (the whole file), an optional
 * PT_INTERP and a PT_DYNAMIC with DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH and DT_FLAGS_1 whose
 * strings live in DT_STRTAB. Any class, byte order, type and machine.
 */
export interface ElfSpec {
  bits?: 32 | 64;
  endian?: 'le' | 'be';
  type?: number;
  machine?: number;
  interp?: string;
  needed?: string[];
  soname?: string;
  rpath?: string;
  runpath?: string;
  flags1?: number;
  /** Bytes appended after the headers (content that makes files differ). */
  payload?: string;
}

export function buildElf(spec: ElfSpec): Buffer {
  const wide = (spec.bits ?? 64) === 64;
  const le = (spec.endian ?? 'le') === 'le';
  const vbase = 0x400000;
  const ehsize = wide ? 64 : 52;
  const phentsize = wide ? 56 : 32;
  const strings: string[] = [''];
  const strOff = (s: string): number => {
    const at = strings.join('\0').length + 1;
    strings.push(s);
    return at;
  };
  const dyn: Array<[number, number]> = [];
  for (const n of spec.needed ?? []) dyn.push([1, strOff(n)]);
  if (spec.soname !== undefined) dyn.push([14, strOff(spec.soname)]);
  if (spec.rpath !== undefined) dyn.push([15, strOff(spec.rpath)]);
  if (spec.runpath !== undefined) dyn.push([29, strOff(spec.runpath)]);
  if (spec.flags1 !== undefined) dyn.push([0x6ffffffb, spec.flags1]);
  const strtab = Buffer.from(strings.join('\0') + '\0');
  const hasDyn = dyn.length > 0 || spec.needed !== undefined;
  const phnum = 1 + (spec.interp !== undefined ? 1 : 0) + (hasDyn ? 1 : 0);
  const phoff = ehsize;
  let at = phoff + phnum * phentsize;
  const interpOff = at;
  const interpBuf = spec.interp !== undefined ? Buffer.from(spec.interp + '\0') : Buffer.alloc(0);
  at += interpBuf.length;
  const strOffFile = at;
  at += strtab.length;
  at = (at + 7) & ~7;
  const dynOff = at;
  const entsize = wide ? 16 : 8;
  const dynEntries = hasDyn ? [...dyn, [5, vbase + strOffFile] as [number, number], [10, strtab.length] as [number, number], [0, 0] as [number, number]] : [];
  at += dynEntries.length * entsize;
  const payload = Buffer.from(spec.payload ?? '');
  const total = at + payload.length;
  const b = Buffer.alloc(total);
  const u16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const u32 = (v: number, o: number) => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  const u64 = (v: number, o: number) => (le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o));
  const word = (v: number, o: number) => (wide ? u64(v, o) : u32(v, o));
  b.set([0x7f, 0x45, 0x4c, 0x46, wide ? 2 : 1, le ? 1 : 2, 1, 0], 0);
  u16(spec.type ?? 3, 16);
  u16(spec.machine ?? 62, 18);
  u32(1, 20);
  word(vbase, 24);
  word(phoff, wide ? 32 : 28);
  u16(ehsize, wide ? 52 : 40);
  u16(phentsize, wide ? 54 : 42);
  u16(phnum, wide ? 56 : 44);
  let ph = phoff;
  const phdr = (type: number, offset: number, size: number): void => {
    u32(type, ph);
    if (wide) {
      u32(4, ph + 4);
      u64(offset, ph + 8);
      u64(vbase + offset, ph + 16);
      u64(vbase + offset, ph + 24);
      u64(size, ph + 32);
      u64(size, ph + 40);
    } else {
      u32(offset, ph + 4);
      u32(vbase + offset, ph + 8);
      u32(vbase + offset, ph + 12);
      u32(size, ph + 16);
      u32(size, ph + 20);
    }
    ph += phentsize;
  };
  phdr(1, 0, total);
  if (spec.interp !== undefined) phdr(3, interpOff, interpBuf.length);
  if (hasDyn) phdr(2, dynOff, dynEntries.length * entsize);
  interpBuf.copy(b, interpOff);
  strtab.copy(b, strOffFile);
  dynEntries.forEach(([tag, val], i) => {
    const o = dynOff + i * entsize;
    if (wide) {
      u64(tag, o);
      u64(val, o + 8);
    } else {
      u32(tag, o);
      u32(val, o + 4);
    }
  });
  payload.copy(b, at);
  return b;
}
