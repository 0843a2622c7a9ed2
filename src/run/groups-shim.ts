/**
 * The supplementary groups of a `--user` run (#16.3). Neither engine can give the guest process
 * real supplementary groups (a rootless user namespace maps one gid; proot does not emulate
 * getgroups), and libfakeroot's getgroups answers with the one faked gid. So for a `--user` run
 * with ownership recording, cake preloads, before libfakeroot, a tiny shared object of its own
 * whose only symbol is `getgroups`, answering with the user's groups from the guest's /etc/group
 * (the primary gid first, as initgroups gives them): `id`, `groups` and programs asking the
 * process's groups see what a real login would. The object is generated here (an ELF with one
 * loadable segment, a dynamic section, a symbol hash table and the function's machine code, the
 * gids as immediates), kept content-addressed under `<cache>/groups/`. Nothing is compiled.
 * The bind is read-write (proot has no read-only binds), so the file is compared with what it
 * must be before every use and rewritten when a guest changed it.
 *
 * Only the answer to getgroups is faked: the kernel's permission checks still use the engine's
 * real ids (README "What an env is not"). x86_64 hosts only for now; elsewhere `id` shows the
 * primary group alone (a debug message says so).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the guest sees the directory holding the shim. */
export const GROUPS_GUEST_DIR = '/.cake/groups';
export const GROUPS_SHIM = 'libcake-groups.so';

/** Bumped when the generated object changes. */
const SHIM_FORMAT = 1;

/**
 * The shim for `gids` on an `arch` (Node's process.arch) host, or undefined where cake has no
 * machine code for it. Pure.
 */
export function groupsShimElf(arch: string, gids: readonly number[]): Buffer | undefined {
  if (arch !== 'x64' || gids.length === 0) return undefined;
  const code = x64GetGroups(gids);
  const EHDR = 64;
  const PHDR = 56;
  const nph = 3;
  const hashOff = EHDR + PHDR * nph; // 232, 8-aligned
  // DT_HASH with one bucket: symbol 1 (getgroups) is the whole chain
  const hash = u32s([1, 2, 1, 0, 0]);
  const symOff = align(hashOff + hash.length, 8);
  const sym = Buffer.alloc(24 * 2);
  const strtab = Buffer.from('\0getgroups\0', 'latin1');
  const strOff = symOff + sym.length;
  const dynOff = align(strOff + strtab.length, 8);
  const dynEntries: Array<[number, number]> = [
    [4, hashOff], // DT_HASH
    [5, strOff], // DT_STRTAB
    [6, symOff], // DT_SYMTAB
    [10, strtab.length], // DT_STRSZ
    [11, 24], // DT_SYMENT
    [0, 0], // DT_NULL
  ];
  const dyn = Buffer.alloc(16 * dynEntries.length);
  dynEntries.forEach(([tag, val], i) => {
    dyn.writeBigUInt64LE(BigInt(tag), i * 16);
    dyn.writeBigUInt64LE(BigInt(val), i * 16 + 8);
  });
  const codeOff = align(dynOff + dyn.length, 16);
  const size = codeOff + code.length;
  // symbol 1: getgroups, global function, defined (section index 1: any but SHN_UNDEF/SHN_ABS)
  sym.writeUInt32LE(1, 24);
  sym.writeUInt8(0x12, 24 + 4);
  sym.writeUInt16LE(1, 24 + 6);
  sym.writeBigUInt64LE(BigInt(codeOff), 24 + 8);
  sym.writeBigUInt64LE(BigInt(code.length), 24 + 16);

  const out = Buffer.alloc(size);
  // ELF header: 64-bit, little-endian, version 1, ET_DYN, EM_X86_64
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(out, 0);
  out.writeUInt16LE(3, 16);
  out.writeUInt16LE(62, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(0n, 24); // e_entry
  out.writeBigUInt64LE(BigInt(EHDR), 32); // e_phoff
  out.writeBigUInt64LE(0n, 40); // e_shoff: no sections
  out.writeUInt32LE(0, 48);
  out.writeUInt16LE(EHDR, 52);
  out.writeUInt16LE(PHDR, 54);
  out.writeUInt16LE(nph, 56);
  out.writeUInt16LE(64, 58);
  out.writeUInt16LE(0, 60);
  out.writeUInt16LE(0, 62);
  const phdr = (i: number, type: number, flags: number, off: number, filesz: number, alignment: number): void => {
    const at = EHDR + i * PHDR;
    out.writeUInt32LE(type, at);
    out.writeUInt32LE(flags, at + 4);
    out.writeBigUInt64LE(BigInt(off), at + 8);
    out.writeBigUInt64LE(BigInt(off), at + 16);
    out.writeBigUInt64LE(BigInt(off), at + 24);
    out.writeBigUInt64LE(BigInt(filesz), at + 32);
    out.writeBigUInt64LE(BigInt(filesz), at + 40);
    out.writeBigUInt64LE(BigInt(alignment), at + 48);
  };
  phdr(0, 1, 7, 0, size, 0x1000); // PT_LOAD, rwx: the loader may relocate the dynamic section in place
  phdr(1, 2, 6, dynOff, dyn.length, 8); // PT_DYNAMIC
  phdr(2, 0x6474e551, 6, 0, 0, 16); // PT_GNU_STACK: no executable stack
  hash.copy(out, hashOff);
  sym.copy(out, symOff);
  strtab.copy(out, strOff);
  dyn.copy(out, dynOff);
  code.copy(out, codeOff);
  return out;
}

/**
 * `int getgroups(int size, gid_t *list)` for x86_64 (System V ABI: size in edi, list in rsi):
 * size 0 → N; size < N → -1; else the gids stored in list, N.
 */
function x64GetGroups(gids: readonly number[]): Buffer {
  const n = gids.length;
  const stores = Buffer.concat(gids.map((g, i) => Buffer.concat([Buffer.from([0xc7, 0x86]), i32(i * 4), u32(g)]))); // mov dword [rsi+4i], gid
  const fail = Buffer.from([0xb8, 0xff, 0xff, 0xff, 0xff, 0xc3]); // mov eax, -1; ret
  const tailJl = stores.length + 1; // from after jl: over the stores and the ret
  const cmpJl = Buffer.concat([Buffer.from([0x81, 0xff]), u32(n), Buffer.from([0x0f, 0x8c]), i32(tailJl)]); // cmp edi, N; jl fail
  const head = Buffer.concat([Buffer.from([0xb8]), u32(n), Buffer.from([0x85, 0xff, 0x0f, 0x84]), i32(cmpJl.length + stores.length)]); // mov eax, N; test edi, edi; je ret
  return Buffer.concat([head, cmpJl, stores, Buffer.from([0xc3]), fail]);
}

/**
 * The directory (to bind at GROUPS_GUEST_DIR) holding the shim for `gids`, written once under
 * `<cacheDir>/groups/`; undefined where groupsShimElf has none.
 */
export async function prepareGroupsShim(cacheDir: string, gids: readonly number[], arch: string = process.arch): Promise<string | undefined> {
  const elf = groupsShimElf(arch, gids);
  if (elf === undefined) return undefined;
  const dir = join(cacheDir, 'groups', createHash('sha256').update(`cake-groups ${SHIM_FORMAT}\n`).update(elf).digest('hex').slice(0, 32));
  const file = join(dir, GROUPS_SHIM);
  const have = await readFile(file).catch(() => undefined);
  if (have !== undefined && have.equals(elf)) return dir;
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, elf, { mode: 0o755 });
  await rename(tmp, file);
  return dir;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
function u32s(vs: number[]): Buffer {
  return Buffer.concat(vs.map(u32));
}
