/**
 * proot starts every guest program through a tiny static "loader" that it carries inside its own
 * binary and writes to PROOT_TMP_DIR (default /tmp) on each start, unless PROOT_LOADER (and, for
 * 32-bit guests, PROOT_LOADER_32) name a copy. A provisioned proot gets its copies carved out once,
 * so that it works where /tmp is mounted noexec and does not write a file per start.
 */

export interface EmbeddedLoaders {
  /** The loader for programs of proot's own architecture. */
  loader?: Buffer;
  /** The loader for 32-bit programs (i386 on x86_64, arm on aarch64), when proot has one. */
  loader32?: Buffer;
}

/** Loaders are a few KiB; anything larger is not one. */
const MAX_LOADER = 1 << 20;
const PT_INTERP = 3;
const PT_LOAD = 1;

/**
 * The extent in `buf` of a little-endian, statically linked ELF executable starting at `off`
 * (its program headers, segments and section headers, whichever ends last), or undefined when
 * what starts there is not one. Pure.
 */
export function embeddedElfAt(buf: Buffer, off: number): { bits: 32 | 64; machine: number; size: number } | undefined {
  if (off + 52 > buf.length || buf.readUInt32BE(off) !== 0x7f454c46) return undefined;
  const cls = buf[off + 4];
  if ((cls !== 1 && cls !== 2) || buf[off + 5] !== 1 || buf[off + 6] !== 1) return undefined;
  const wide = cls === 2;
  if (wide && off + 64 > buf.length) return undefined;
  const type = buf.readUInt16LE(off + 16);
  const machine = buf.readUInt16LE(off + 18);
  if ((type !== 2 && type !== 3) || buf.readUInt32LE(off + 20) !== 1) return undefined;
  const num = (at: number): number => (wide ? Number(buf.readBigUInt64LE(off + at)) : buf.readUInt32LE(off + at));
  const phoff = num(wide ? 32 : 28);
  const shoff = num(wide ? 40 : 32);
  const h = wide ? 54 : 42;
  const [phentsize, phnum, shentsize, shnum] = [0, 2, 4, 6].map((d) => buf.readUInt16LE(off + h + d)) as [number, number, number, number];
  if (phnum === 0 || phentsize < (wide ? 56 : 32)) return undefined;
  let end = phoff + phnum * phentsize;
  if (shnum > 0) end = Math.max(end, shoff + shnum * shentsize);
  if (end > MAX_LOADER || off + end > buf.length) return undefined;
  let loads = 0;
  for (let i = 0; i < phnum; i++) {
    const p = off + phoff + i * phentsize;
    const ptype = buf.readUInt32LE(p);
    if (ptype === PT_INTERP) return undefined;
    if (ptype === PT_LOAD) loads++;
    const poffset = wide ? Number(buf.readBigUInt64LE(p + 8)) : buf.readUInt32LE(p + 4);
    const filesz = wide ? Number(buf.readBigUInt64LE(p + 32)) : buf.readUInt32LE(p + 16);
    end = Math.max(end, poffset + filesz);
  }
  if (loads === 0 || end > MAX_LOADER || off + end > buf.length) return undefined;
  return { bits: wide ? 64 : 32, machine, size: end };
}

/**
 * Finds the loaders embedded in a proot binary: the first static ELF executable after offset 0
 * for `machine` (e_machine: 62 x86-64, 183 aarch64) and the first for `machine32` (3 i386, 40
 * arm). Either may be missing (a proot built without them extracts nothing useful: leave
 * PROOT_LOADER unset then). Pure.
 */
export function findEmbeddedLoaders(proot: Buffer, machine: number, machine32: number): EmbeddedLoaders {
  const out: EmbeddedLoaders = {};
  for (let at = proot.indexOf('\x7fELF', 1, 'latin1'); at > 0; at = proot.indexOf('\x7fELF', at + 1, 'latin1')) {
    const elf = embeddedElfAt(proot, at);
    if (elf === undefined) continue;
    if (out.loader === undefined && elf.bits === 64 && elf.machine === machine) out.loader = proot.subarray(at, at + elf.size);
    if (out.loader32 === undefined && elf.bits === 32 && elf.machine === machine32) out.loader32 = proot.subarray(at, at + elf.size);
    if (out.loader && out.loader32) break;
  }
  return out;
}
