/**
 * The x86_64 ELF shared objects cake preloads into guest programs (groups-shim.ts, owner-shim.ts),
 * generated without a compiler: one loadable segment (rwx: the loader relocates the dynamic
 * section in place, and the objects keep small writable tables next to their code), a dynamic
 * section, a symbol hash table, the exported functions, and imported symbols reached through
 * GOT slots that the loader fills at load time (R_X86_64_GLOB_DAT, resolved in the global scope:
 * the program, then the preloaded objects in order, then libc). No section headers. Also the
 * little assembler their machine code is written with, and where a shim is kept on the host.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where things landed in the object, as the code sees them (offsets are addresses: base 0). */
export interface ShimLayout {
  /** Address of the GOT slot of an import. */
  got(name: string): number;
  /** Address of the NUL-terminated name of an export or import. */
  str(name: string): number;
  /** Address of the data block. */
  data: number;
  /** Address of the code. */
  code: number;
}

export interface ShimSpec {
  /** Exported functions, by name. */
  exports: readonly string[];
  /** Imported symbols, by name (each gets a GOT slot). */
  imports: readonly string[];
  /** Size of the writable data block placed before the code. */
  dataSize: number;
  /** The data block and the code, given where they land; `entries` maps each export to its offset in `code`. */
  build(at: ShimLayout): { data: Buffer; code: Buffer; entries: ReadonlyMap<string, number> };
}

const EHDR = 64;
const PHDR = 56;
const NPH = 3;
const SYM = 24;
const RELA = 24;

/** The ELF object for `spec`. Pure. */
export function shimElf(spec: ShimSpec): Buffer {
  const names = [...spec.exports, ...spec.imports];
  const nsym = names.length + 1;
  const hashOff = EHDR + PHDR * NPH;
  // DT_HASH with one bucket: the chain links every symbol (the loader skips the undefined ones)
  const chain = [0, ...names.map((_, i) => (i + 2 < nsym ? i + 2 : 0))];
  const hash = u32s([1, nsym, names.length > 0 ? 1 : 0, ...chain]);
  const symOff = align(hashOff + hash.length, 8);
  const strParts: Buffer[] = [Buffer.from([0])];
  const strIdx = new Map<string, number>();
  let strLen = 1;
  for (const n of names) {
    strIdx.set(n, strLen);
    const b = Buffer.from(`${n}\0`, 'latin1');
    strParts.push(b);
    strLen += b.length;
  }
  const strtab = Buffer.concat(strParts);
  const strOff = symOff + SYM * nsym;
  const relaOff = align(strOff + strtab.length, 8);
  const relaSize = RELA * spec.imports.length;
  const dynEntries: Array<[number, number]> = [];
  const dynCount = 6 + (spec.imports.length > 0 ? 3 : 0);
  const dynOff = relaOff + relaSize;
  const gotOff = dynOff + 16 * dynCount;
  const dataOff = gotOff + 8 * spec.imports.length;
  const codeOff = align(dataOff + spec.dataSize, 16);
  const layout: ShimLayout = {
    got: (n) => gotOff + 8 * indexOf(spec.imports, n),
    str: (n) => strOff + (strIdx.get(n) ?? missing(n)),
    data: dataOff,
    code: codeOff,
  };
  const built = spec.build(layout);
  if (built.data.length > spec.dataSize) throw new Error('shim data larger than declared');
  const size = codeOff + built.code.length;

  dynEntries.push([4, hashOff], [5, strOff], [6, symOff], [10, strtab.length], [11, SYM]);
  if (spec.imports.length > 0) dynEntries.push([7, relaOff], [8, relaSize], [9, RELA]); // DT_RELA, DT_RELASZ, DT_RELAENT
  dynEntries.push([0, 0]);

  const out = Buffer.alloc(size);
  // ELF header: 64-bit, little-endian, version 1, ET_DYN, EM_X86_64
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(out, 0);
  out.writeUInt16LE(3, 16);
  out.writeUInt16LE(62, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(EHDR), 32); // e_phoff; e_entry and e_shoff stay 0
  out.writeUInt16LE(EHDR, 52);
  out.writeUInt16LE(PHDR, 54);
  out.writeUInt16LE(NPH, 56);
  out.writeUInt16LE(64, 58);
  const phdr = (i: number, type: number, flags: number, off: number, filesz: number, alignment: number): void => {
    const at = EHDR + i * PHDR;
    out.writeUInt32LE(type, at);
    out.writeUInt32LE(flags, at + 4);
    for (const k of [8, 16, 24]) out.writeBigUInt64LE(BigInt(off), at + k);
    out.writeBigUInt64LE(BigInt(filesz), at + 32);
    out.writeBigUInt64LE(BigInt(filesz), at + 40);
    out.writeBigUInt64LE(BigInt(alignment), at + 48);
  };
  phdr(0, 1, 7, 0, size, 0x1000); // PT_LOAD, rwx
  phdr(1, 2, 6, dynOff, 16 * dynEntries.length, 8); // PT_DYNAMIC
  phdr(2, 0x6474e551, 6, 0, 0, 16); // PT_GNU_STACK: no executable stack
  hash.copy(out, hashOff);
  names.forEach((n, i) => {
    const at = symOff + SYM * (i + 1);
    out.writeUInt32LE(strIdx.get(n)!, at);
    out.writeUInt8(0x12, at + 4); // global function
    const entry = i < spec.exports.length ? (built.entries.get(n) ?? missing(n)) : undefined;
    if (entry !== undefined) {
      out.writeUInt16LE(1, at + 6); // defined: any section index but SHN_UNDEF/SHN_ABS
      out.writeBigUInt64LE(BigInt(codeOff + entry), at + 8);
    }
  });
  strtab.copy(out, strOff);
  spec.imports.forEach((n, i) => {
    const at = relaOff + RELA * i;
    out.writeBigUInt64LE(BigInt(layout.got(n)), at);
    out.writeBigUInt64LE((BigInt(spec.exports.length + 1 + i) << 32n) | 6n, at + 8); // R_X86_64_GLOB_DAT
  });
  dynEntries.forEach(([tag, val], i) => {
    out.writeBigUInt64LE(BigInt(tag), dynOff + i * 16);
    out.writeBigUInt64LE(BigInt(val), dynOff + i * 16 + 8);
  });
  built.data.copy(out, dataOff);
  built.code.copy(out, codeOff);
  return out;
}

/**
 * x86_64 machine code, appended byte by byte, with labels for near jumps (always rel32) and
 * RIP-relative operands to addresses in the object. `base` is the code's address.
 */
export class Asm {
  private readonly buf: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixes: Array<{ at: number; label: string }> = [];
  constructor(private readonly base: number) {}

  /** Offset of the next byte. */
  get offset(): number {
    return this.buf.length;
  }
  b(...bytes: number[]): this {
    this.buf.push(...bytes);
    return this;
  }
  /** A 32-bit immediate, little-endian. */
  imm32(v: number): this {
    return this.b(...i32(v));
  }
  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label ${name} twice`);
    this.labels.set(name, this.buf.length);
    return this;
  }
  /** jcc rel32 (cc: 4 e/z, 5 ne/nz, 8 s). */
  jcc(cc: number, label: string): this {
    return this.b(0x0f, 0x80 | cc).rel(label);
  }
  jmp(label: string): this {
    return this.b(0xe9).rel(label);
  }
  /** `opcode` whose last operand is [rip + disp32] reaching `target` (nothing may follow the displacement). */
  rip(opcode: readonly number[], target: number): this {
    this.b(...opcode);
    return this.imm32(target - (this.base + this.buf.length + 4));
  }
  done(): Buffer {
    for (const f of this.fixes) {
      const to = this.labels.get(f.label);
      if (to === undefined) throw new Error(`no label ${f.label}`);
      i32(to - (f.at + 4)).forEach((v, k) => (this.buf[f.at + k] = v));
    }
    return Buffer.from(this.buf);
  }
  private rel(label: string): this {
    this.fixes.push({ at: this.buf.length, label });
    return this.b(0, 0, 0, 0);
  }
}

/**
 * The directory under `<cacheDir>/<kind>/` (named by `tag` and the content) holding `elf` as
 * `file`, written unless it holds it already: the bind is read-write (proot has no read-only
 * binds), so the file is compared with what it must be before every use and rewritten when a
 * guest changed it.
 */
export async function keepShim(cacheDir: string, kind: string, tag: string, file: string, elf: Buffer): Promise<string> {
  const dir = join(cacheDir, kind, createHash('sha256').update(`${tag}\n`).update(elf).digest('hex').slice(0, 32));
  const path = join(dir, file);
  const have = await readFile(path).catch(() => undefined);
  if (have !== undefined && have.equals(elf)) return dir;
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, elf, { mode: 0o755 });
  await rename(tmp, path);
  return dir;
}

function indexOf(list: readonly string[], n: string): number {
  const i = list.indexOf(n);
  return i < 0 ? missing(n) : i;
}
function missing(n: string): never {
  throw new Error(`shim symbol ${n} not declared`);
}
function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
function i32(v: number): number[] {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return [...b];
}
function u32s(vs: number[]): Buffer {
  return Buffer.concat(
    vs.map((v) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v >>> 0);
      return b;
    }),
  );
}
