/**
 * The supplementary groups of a `--user` run (#16.3). Neither engine can give the guest process
 * real supplementary groups (a rootless user namespace maps one gid; proot does not emulate
 * getgroups), and libfakeroot's getgroups answers with the one faked gid. So for a `--user` run
 * with ownership recording, cake preloads, before libfakeroot, a tiny shared object of its own
 * whose only symbol is `getgroups`, answering with the user's groups from the guest's /etc/group
 * (the primary gid first, as initgroups gives them): `id`, `groups` and programs asking the
 * process's groups see what a real login would. The object is generated (shim-elf.ts: the
 * function's machine code, the gids as immediates), kept content-addressed under
 * `<cache>/groups/`. Nothing is compiled.
 * The bind is read-write (proot has no read-only binds), so the file is compared with what it
 * must be before every use and rewritten when a guest changed it.
 *
 * Only the answer to getgroups is faked: the kernel's permission checks still use the engine's
 * real ids (README "What an env is not"). x86_64 hosts only for now; elsewhere `id` shows the
 * primary group alone (a debug message says so).
 */
import { keepShim, shimElf } from './shim-elf.js';

/** Where the guest sees the directory holding the shim. */
export const GROUPS_GUEST_DIR = '/.cake/groups';
export const GROUPS_SHIM = 'libcake-groups.so';

/** Bumped when the generated object changes. */
const SHIM_FORMAT = 2;

/**
 * The shim for `gids` on an `arch` (Node's process.arch) host, or undefined where cake has no
 * machine code for it. Pure.
 */
export function groupsShimElf(arch: string, gids: readonly number[]): Buffer | undefined {
  if (arch !== 'x64' || gids.length === 0) return undefined;
  return shimElf({ exports: ['getgroups'], imports: [], dataSize: 0, build: () => ({ data: Buffer.alloc(0), code: x64GetGroups(gids), entries: new Map([['getgroups', 0]]) }) });
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
  return keepShim(cacheDir, 'groups', `cake-groups ${SHIM_FORMAT}`, GROUPS_SHIM, elf);
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
