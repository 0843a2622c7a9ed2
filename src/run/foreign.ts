/**
 * How a foreign-architecture guest runs on this host, decided once per run:
 *
 * - `binfmt`: the kernel has an enabled binfmt_misc handler for the guest's ELF machine with the
 *   F flag (qemu-user-static registers them so: the interpreter is opened when the handler is
 *   registered, so it works inside an env that has no qemu of its own). The guest then runs under
 *   the default userns engine and only the CPU is emulated.
 * - `qemu`: no such handler, but qemu-user is installed: the provisioned proot runs the guest with
 *   `-q qemu-ARCH-static` (every syscall goes through ptrace as well).
 *
 * Neither is a CakeError('missing-tool') with a one-line hint (see requireForeignRunner).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CakeError } from '../model/errors.js';
import { findHostProgram } from './host-tools.js';
import { normalizeArch, qemuProgramNames } from './arch.js';

/** Where the kernel's binfmt_misc handlers are listed. */
export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/** ELF e_machine of each architecture (uname spelling), and whether its ELF files are big-endian. */
const ELF_MACHINE: Readonly<Record<string, { machine: number; bigEndian?: boolean; class64: boolean }>> = {
  x86_64: { machine: 0x3e, class64: true },
  i386: { machine: 0x03, class64: false },
  aarch64: { machine: 0xb7, class64: true },
  arm: { machine: 0x28, class64: false },
  riscv64: { machine: 0xf3, class64: true },
  ppc64le: { machine: 0x15, class64: true },
  s390x: { machine: 0x16, bigEndian: true, class64: true },
  mips64el: { machine: 0x08, class64: true },
  loongarch64: { machine: 0x102, class64: true },
};

/** One binfmt_misc handler as its /proc file describes it. */
export interface BinfmtHandler {
  name: string;
  enabled: boolean;
  interpreter: string;
  flags: string;
  /** Magic bytes and mask (hex as the kernel prints them; mask absent = all ones). */
  magic?: string;
  mask?: string;
  offset: number;
}

/** Parses the text of /proc/sys/fs/binfmt_misc/NAME; undefined for an extension (E) handler or garbage. Pure. */
export function parseBinfmtHandler(name: string, text: string): BinfmtHandler | undefined {
  const lines = text.split('\n').map((l) => l.trim());
  const value = (key: string): string | undefined => {
    const l = lines.find((x) => x.startsWith(`${key} `) || x.startsWith(`${key}:`));
    return l === undefined ? undefined : l.slice(key.length).replace(/^:/, '').trim();
  };
  const interpreter = value('interpreter');
  const magic = value('magic');
  if (interpreter === undefined || magic === undefined) return undefined;
  const mask = value('mask');
  return {
    name,
    enabled: lines[0] === 'enabled',
    interpreter,
    flags: value('flags') ?? '',
    magic: magic.toLowerCase(),
    ...(mask !== undefined ? { mask: mask.toLowerCase() } : {}),
    offset: Number(value('offset') ?? '0') || 0,
  };
}

/** The first bytes of an ELF executable of `arch` (class, data, version, ..., e_type EXEC, e_machine). Pure. */
function elfHeader(arch: string): Uint8Array | undefined {
  const m = ELF_MACHINE[normalizeArch(arch)];
  if (m === undefined) return undefined;
  const h = new Uint8Array(20);
  h.set([0x7f, 0x45, 0x4c, 0x46, m.class64 ? 2 : 1, m.bigEndian ? 2 : 1, 1]);
  const put16 = (at: number, v: number): void => {
    h[at] = m.bigEndian ? v >> 8 : v & 0xff;
    h[at + 1] = m.bigEndian ? v & 0xff : v >> 8;
  };
  put16(16, 2); // ET_EXEC (the handlers' masks also accept ET_DYN)
  put16(18, m.machine);
  return h;
}

/** Whether handler `h` would take an ELF executable of `arch` (magic under mask at offset). Pure. */
export function handlerMatches(h: BinfmtHandler, arch: string): boolean {
  const elf = elfHeader(arch);
  if (elf === undefined || h.magic === undefined) return false;
  const magic = Buffer.from(h.magic, 'hex');
  const mask = h.mask !== undefined ? Buffer.from(h.mask, 'hex') : Buffer.alloc(magic.length, 0xff);
  if (magic.length === 0 || h.offset + magic.length > elf.length) return false;
  for (let i = 0; i < magic.length; i++) {
    if ((elf[h.offset + i]! & (mask[i] ?? 0xff)) !== (magic[i]! & (mask[i] ?? 0xff))) return false;
  }
  return true;
}

/**
 * The enabled binfmt_misc handler with the F flag that runs `arch`'s ELF executables, if any.
 * `dir` is BINFMT_DIR (a test's fixture directory otherwise); an unmounted binfmt_misc reads as
 * none.
 */
export async function findBinfmtHandler(arch: string, dir = BINFMT_DIR): Promise<BinfmtHandler | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  try {
    if ((await readFile(join(dir, 'status'), 'utf8')).trim() !== 'enabled') return undefined;
  } catch {
    return undefined;
  }
  for (const name of names.sort()) {
    if (name === 'status' || name === 'register') continue;
    let text: string;
    try {
      text = await readFile(join(dir, name), 'utf8');
    } catch {
      continue;
    }
    const h = parseBinfmtHandler(name, text);
    if (h !== undefined && h.enabled && h.flags.includes('F') && handlerMatches(h, arch)) return h;
  }
  return undefined;
}

export type ForeignRunner = { kind: 'binfmt'; handler: BinfmtHandler } | { kind: 'qemu'; qemu: string };

/** qemu-ARCH-static (or qemu-ARCH) on the host's PATH. */
export async function findQemuUser(arch: string, hostEnv: Record<string, string | undefined>): Promise<string | undefined> {
  for (const name of qemuProgramNames(arch)) {
    const found = await findHostProgram(name, hostEnv);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * How a guest of `arch` runs here (see the file comment), preferring the kernel's handler.
 * Throws CakeError('missing-tool') when neither works, naming the arch and the package.
 */
export async function requireForeignRunner(arch: string, hostArch: string, hostEnv: Record<string, string | undefined>, binfmtDir = BINFMT_DIR): Promise<ForeignRunner> {
  const handler = await findBinfmtHandler(arch, binfmtDir);
  if (handler !== undefined) return { kind: 'binfmt', handler };
  const qemu = await findQemuUser(arch, hostEnv);
  if (qemu !== undefined) return { kind: 'qemu', qemu };
  throw new CakeError('missing-tool', `running ${arch} programs on this ${hostArch} host needs qemu-user, which is not installed (no ${qemuProgramNames(arch).join(' or ')} on PATH, no binfmt_misc handler)`, {
    hint: 'sudo apt-get install qemu-user-static',
  });
}

/** "the kernel runs aarch64 programs through /usr/libexec/qemu-binfmt/aarch64-binfmt-P (binfmt_misc qemu-aarch64)". Pure. */
export function describeRunner(r: ForeignRunner, arch: string): string {
  return r.kind === 'binfmt'
    ? `the kernel runs ${arch} programs through ${r.handler.interpreter} (binfmt_misc ${r.handler.name}, F flag)`
    : `no binfmt_misc handler with the F flag for ${arch}: proot with ${r.qemu}`;
}
