/**
 * Reads the `.modinfo` section of a Linux kernel module (an ELF relocatable object): the
 * NUL-separated `key=value` strings that modinfo(8) prints and depmod(8) reads (`depends=`,
 * `softdep=`, `alias=`, `name=`). Pure, no I/O; the module must be decompressed already.
 */
import { CakeError } from '../model/errors.js';

export interface ModInfo {
  /** The module's name as the kernel knows it (`name=`), '' when absent. */
  name: string;
  /** Names of the modules whose symbols it uses. */
  depends: string[];
  /** Soft dependencies: modules to load before (`pre:`) and after (`post:`) it. */
  softPre: string[];
  softPost: string[];
  aliases: string[];
}

/** The `.modinfo` key/value pairs of an ELF module, in order. Throws CakeError('bad-archive') on a malformed ELF. */
export function readModinfoPairs(elf: Buffer, label: string): Array<[string, string]> {
  const bad = (why: string): CakeError => new CakeError('bad-archive', `kernel module ${label}: ${why}`);
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw bad('not an ELF file (compressed modules must be decompressed first)');
  const is64 = elf[4] === 2;
  const le = elf[5] === 1;
  if (elf[4] !== 1 && elf[4] !== 2) throw bad('unknown ELF class');
  const u16 = (o: number): number => (le ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
  const u32 = (o: number): number => (le ? elf.readUInt32LE(o) : elf.readUInt32BE(o));
  const addr = (o: number): number => (is64 ? Number(le ? elf.readBigUInt64LE(o) : elf.readBigUInt64BE(o)) : u32(o));
  const shoff = addr(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const shstrndx = u16(is64 ? 0x3e : 0x32);
  if (shoff === 0 || shnum === 0 || shoff + shnum * shentsize > elf.length || shstrndx >= shnum) throw bad('bad section header table');
  const section = (i: number): { name: number; offset: number; size: number } => {
    const o = shoff + i * shentsize;
    return is64 ? { name: u32(o), offset: addr(o + 24), size: addr(o + 32) } : { name: u32(o), offset: u32(o + 16), size: u32(o + 20) };
  };
  const strtab = section(shstrndx);
  if (strtab.offset + strtab.size > elf.length) throw bad('bad section name table');
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameAt = strtab.offset + s.name;
    const end = elf.indexOf(0, nameAt);
    if (end < 0 || elf.toString('latin1', nameAt, end) !== '.modinfo') continue;
    if (s.offset + s.size > elf.length) throw bad('.modinfo runs past the end of the file');
    const pairs: Array<[string, string]> = [];
    for (const item of elf.subarray(s.offset, s.offset + s.size).toString('utf8').split('\0')) {
      const eq = item.indexOf('=');
      if (eq > 0) pairs.push([item.slice(0, eq), item.slice(eq + 1)]);
    }
    return pairs;
  }
  throw bad('no .modinfo section');
}

/** The fields of `.modinfo` that module ordering needs. */
export function readModinfo(elf: Buffer, label: string): ModInfo {
  const info: ModInfo = { name: '', depends: [], softPre: [], softPost: [], aliases: [] };
  for (const [key, value] of readModinfoPairs(elf, label)) {
    if (key === 'name') info.name = value;
    else if (key === 'depends') info.depends.push(...value.split(',').filter((d) => d !== ''));
    else if (key === 'alias') info.aliases.push(value);
    else if (key === 'softdep') {
      const soft = parseSoftdepText(value);
      info.softPre.push(...soft.pre);
      info.softPost.push(...soft.post);
    }
  }
  return info;
}

/** `pre: a b post: c` → { pre: [a, b], post: [c] } (the syntax of modprobe.d's softdep). */
export function parseSoftdepText(text: string): { pre: string[]; post: string[] } {
  const out = { pre: [] as string[], post: [] as string[] };
  let into: string[] | undefined;
  for (const word of text.trim().split(/\s+/)) {
    if (word === 'pre:') into = out.pre;
    else if (word === 'post:') into = out.post;
    else if (word !== '' && into !== undefined) into.push(word);
  }
  return out;
}
