/**
 * Which glibc a guest has, to know whether a kit's libfakeroot can load in its programs: the
 * library is linked against glibc symbol versions (GLIBC_2.34, …), and a guest's libc.so.6 names
 * every version it provides. A guest without libc.so.6 (musl, busybox-static, scratch) has none.
 */
import { readFile } from 'node:fs/promises';
import { machine } from 'node:os';
import { resolveGuestPath } from './guest-path.js';

/** Multiarch triplets of the host machines a kit runs on (the guest is native when recorded). */
const TRIPLETS: Readonly<Record<string, string>> = { x86_64: 'x86_64-linux-gnu', aarch64: 'aarch64-linux-gnu' };

/** Where distros keep libc.so.6: Debian/Ubuntu multiarch, Fedora/openSUSE lib64, Arch/Void usr/lib. */
export function libcCandidates(hostMachine: string = machine()): string[] {
  const t = TRIPLETS[hostMachine];
  return [...(t ? [`/lib/${t}/libc.so.6`, `/usr/lib/${t}/libc.so.6`] : []), '/lib64/libc.so.6', '/usr/lib64/libc.so.6', '/usr/lib/libc.so.6', '/lib/libc.so.6'];
}

/**
 * The GLIBC_x.y version names in an ELF object's bytes, sorted: for a library, those it needs
 * (its version references) and those it defines; for libc.so.6, the versions it provides. Pure.
 */
export function glibcVersions(bytes: Buffer): string[] {
  const found = new Set<string>();
  for (const m of bytes.toString('latin1').matchAll(/GLIBC_(\d+\.\d+(?:\.\d+)?)\0/g)) found.add(`GLIBC_${m[1]}`);
  return [...found].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * Why a kit needing `needs` cannot load in the guest at `rootfs`, or undefined when it can: the
 * guest has no glibc (`glibc: false`: musl, busybox-static, scratch), or its libc lacks a needed
 * version (too old). Reads the guest's libc through guest symlinks only (never the host's).
 */
export async function glibcMismatch(rootfs: string, needs: readonly string[]): Promise<{ why: string; glibc: boolean } | undefined> {
  let found = read.get(rootfs);
  if (found === undefined) read.set(rootfs, (found = readLibc(rootfs)));
  const libc = await found;
  if (libc !== undefined) {
    const { path: p, bytes } = libc;
    if (bytes.indexOf('GNU C Library') < 0 && bytes.indexOf('GLIBC_2.') < 0) return { why: `the env's ${p} is not glibc`, glibc: false };
    const missing = needs.filter((n) => bytes.indexOf(`${n}\0`) < 0);
    if (missing.length === 0) return undefined;
    const have = glibcVersions(bytes).at(-1) ?? 'an unknown version';
    return { why: `the env's glibc (${have.replace('GLIBC_', '')}) is older than the ${missing.at(-1)!.replace('GLIBC_', '')} the fakeroot kit needs`, glibc: true };
  }
  return { why: 'the env has no glibc (no libc.so.6: a musl or static guest)', glibc: false };
}

/** The guest's libc per rootfs, read once per cake run (the CLI and the recorder both ask). */
const read = new Map<string, Promise<{ path: string; bytes: Buffer } | undefined>>();

async function readLibc(rootfs: string): Promise<{ path: string; bytes: Buffer } | undefined> {
  for (const p of libcCandidates()) {
    const r = await resolveGuestPath(rootfs, [], p).catch(() => undefined);
    if (r?.kind !== 'file') continue;
    const bytes = await readFile(r.hostPath).catch(() => undefined);
    if (bytes !== undefined) return { path: p, bytes };
  }
  return undefined;
}

/** Whether the guest at `rootfs` has a glibc at all (checked before a kit is fetched for it). */
export async function hasGlibc(rootfs: string): Promise<boolean> {
  return (await glibcMismatch(rootfs, []))?.glibc !== false;
}
