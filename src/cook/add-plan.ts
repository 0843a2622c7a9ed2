/**
 * Planning `cake add` (and the recipe `add` step): what to copy into the target env for a path
 * taken from another env, the host, or the Nix store. Reads the sources only; applying the plan is
 * add-apply.ts.
 *
 * The placement scheme for a dynamic ELF program taken from SOURCE (an env name, or `host`):
 *   /opt/cake/SOURCE/<its real path>   the program itself, unchanged
 *   /opt/cake/SOURCE/lib/<name>        its interpreter and every library of its closure
 *   <the requested path>               a /bin/sh wrapper:
 *       exec /opt/cake/SOURCE/lib/LOADER --library-path /opt/cake/SOURCE/lib [--argv0 "$0"] PROGRAM "$@"
 * The program runs with its own loader and libc, found through --library-path, which (unlike
 * LD_LIBRARY_PATH) is not inherited by the programs it starts: the target's own libc, /bin/sh and
 * loader are never replaced or shadowed. Static programs, scripts and other files are copied to
 * the requested path as they are; a directory is copied as a tree; a shared library goes into
 * /opt/cake/SOURCE/lib with its closure. Nix store paths are copied with their closure into
 * /nix/store, and their bin/ directories go on PATH; a store path that is a single executable file
 * (`nix-store --add script`, `writeScript`) is linked by its name (the part after the hash) from
 * /opt/cake/nix/bin, which goes on PATH.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { lookupOwner, type OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import { resolveClosure, resolveIn, type StartOptions } from './closure.js';
import { elfRole, readElfFile, type ElfInfo } from '../archive/elf.js';
import { machineOfArch } from '../archive/elf-arch.js';
import { nixClosure, storePathRoot, type NixDeps } from './nix.js';
import { hashFile, HashPacer, type HashOptions } from '../store/tree-hash.js';

/** Where files are taken from: an env's rootfs (with its ownership table) or the host (`/`). */
export interface AddSource {
  /** Env name, or `host`: names the /opt/cake/<label> directory. */
  label: string;
  root: string;
  ownership?: OwnershipTable;
}

export type AddItem =
  | { kind: 'file'; dest: string; src: string; mode: number; sha256: string }
  | { kind: 'text'; dest: string; content: string; mode: number }
  | { kind: 'symlink'; dest: string; target: string }
  | { kind: 'dir'; dest: string; mode: number };

export interface AddPlan {
  items: AddItem[];
  /** Directories to put first on PATH (bin/ of Nix store paths). */
  pathDirs: string[];
  /** Store paths copied whole (skipped when the target has them already). */
  storePaths: string[];
  /** One line per thing added, for the user. */
  summary: string[];
  /** Wrappers need /bin/sh in the target. */
  needsShell: boolean;
}

export const OPT_CAKE = '/opt/cake';

/** Where executable single-file Nix store paths are linked by name (and which goes on PATH). */
export const NIX_BIN = '/opt/cake/nix/bin';

const ARCH_OF_MACHINE: Record<number, string> = { 62: 'x86_64', 183: 'aarch64', 40: 'armv7', 3: 'i686', 243: 'riscv64', 21: 'ppc64le', 22: 's390x' };

function emptyPlan(): AddPlan {
  return { items: [], pathDirs: [], storePaths: [], summary: [], needsShell: false };
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function keyOf(guestPath: string): string {
  return guestPath.replace(/^\/+/, '');
}

function modeIn(src: AddSource, guestPath: string, diskMode: number): number {
  return src.ownership ? lookupOwner(src.ownership, keyOf(guestPath), diskMode).mode : diskMode & 0o7777;
}

/** The items that copy the tree at `hostDir` (a directory) to `dest`, symlinks kept. */
function treeItems(src: AddSource, hostDir: string, guestDir: string, dest: string, items: AddItem[], hash: boolean): void {
  const st = lstatSync(hostDir);
  items.push({ kind: 'dir', dest, mode: modeIn(src, guestDir, st.mode) });
  for (const name of readdirSync(hostDir).sort()) {
    const h = posix.join(hostDir, name);
    const g = posix.join(guestDir, name);
    const d = posix.join(dest, name);
    const cst = lstatSync(h);
    if (cst.isDirectory()) treeItems(src, h, g, d, items, hash);
    else if (cst.isSymbolicLink()) items.push({ kind: 'symlink', dest: d, target: readlinkSync(h) });
    else if (cst.isFile()) items.push({ kind: 'file', dest: d, src: h, mode: modeIn(src, g, cst.mode), sha256: hash ? LATER : '' });
  }
}

function supportsArgv0(loaderHostPath: string): boolean {
  try {
    return readFileSync(loaderHostPath).includes('argv0');
  } catch {
    return false;
  }
}

function checkMachine(info: ElfInfo, targetArch: string | undefined, what: string): void {
  const want = targetArch ? machineOfArch(targetArch) : undefined;
  if (want === undefined || info.machine === want) return;
  throw new CakeError('usage', `${what} is a program for ${ARCH_OF_MACHINE[info.machine] ?? `machine ${info.machine}`}, and the env is ${targetArch}`, {
    exitCode: 2,
    hint: 'take it from an env of the same architecture',
  });
}

/**
 * Plans taking `guestPath` from `src` into a target of arch `targetArch`. Throws CakeError
 * ('not-found') for a missing path or libraries that cannot be found (naming them all).
 */
export async function planFromTree(src: AddSource, guestPath: string, targetArch?: string, o: HashOptions = {}): Promise<AddPlan> {
  const plan = await planTree(src, guestPath, targetArch);
  // the contents are hashed last, interruptibly: a source env's file may be a sparse giant
  const pacer = new HashPacer(o.signal);
  for (const it of plan.items) if (it.kind === 'file' && it.sha256 === LATER) it.sha256 = await hashFile(it.src, { ...o, pacer });
  return plan;
}
/** A file item's sha256 until {@link planFromTree} fills it in. */
const LATER = '?';
async function planTree(src: AddSource, guestPath: string, targetArch?: string): Promise<AddPlan> {
  const plan = emptyPlan();
  const where = src.label === 'host' ? `the host's ${guestPath}` : `${src.label}:${guestPath}`;
  const r = await resolveIn(src.root, guestPath);
  if (r.kind === 'missing') throw new CakeError('not-found', `${where} does not exist`, { hint: 'check the path (symlinks are followed inside the source)' });
  if (r.kind === 'dir') {
    treeItems(src, r.hostPath, r.guestPath, guestPath, plan.items, true);
    plan.summary.push(`${guestPath}/: a directory tree from ${where}`);
    return plan;
  }
  // a fifo would block the reads below, a device would read the host's device: only regular files
  const kind = lstatSync(r.hostPath);
  if (!kind.isFile()) {
    const what = kind.isFIFO() ? 'a fifo' : kind.isSocket() ? 'a socket' : kind.isCharacterDevice() || kind.isBlockDevice() ? 'a device node' : 'not a regular file';
    throw new CakeError('usage', `${where} is ${what}: only files, directories and symlinks to them can be added`, { hint: 'name a regular file or a directory' });
  }
  const wrapped = readWrapper(r.hostPath);
  if (wrapped) return planWrapped(src, guestPath, wrapped, targetArch, where);
  const info = readElfFile(r.hostPath);
  const role = info ? elfRole(info) : 'other';
  const mode = modeIn(src, r.guestPath, lstatSync(r.hostPath).mode);
  if (!info || role === 'static-exe' || role === 'other') {
    if (info) checkMachine(info, targetArch, where);
    plan.items.push({ kind: 'file', dest: guestPath, src: r.hostPath, mode, sha256: LATER });
    plan.summary.push(`${guestPath}: ${info ? 'a static program' : 'a file'} from ${where}`);
    return plan;
  }
  checkMachine(info, targetArch, where);
  return planDynamic(src, guestPath, r.guestPath, r.hostPath, info, mode, where, {});
}

/** A wrapper that cake wrote: its loader, library dir and program (all guest paths). */
interface Wrapper {
  loader: string;
  libDir: string;
  program: string;
}

const WRAPPER = /^#!\/bin\/sh\n# Added by cake from [^\n]*\nexec '([^']+)' --library-path '([^']+)'(?: --argv0 "\$0")? '([^']+)' "\$@"\n$/;

function readWrapper(hostPath: string): Wrapper | undefined {
  try {
    if (lstatSync(hostPath).size > 4096) return undefined;
    const m = WRAPPER.exec(readFileSync(hostPath, 'utf8'));
    return m ? { loader: m[1]!, libDir: m[2]!, program: m[3]! } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A program that cake added to the source env before (its path holds a wrapper): take the real
 * program with the loader and libraries the wrapper uses, placed as if taken from their origin.
 */
async function planWrapped(src: AddSource, guestPath: string, w: Wrapper, targetArch: string | undefined, where: string): Promise<AddPlan> {
  const r = await resolveIn(src.root, w.program);
  const info = r.kind === 'file' ? readElfFile(r.hostPath) : undefined;
  if (!info) throw new CakeError('not-found', `${where} is a cake wrapper of ${w.program}, which is missing`);
  checkMachine(info, targetArch, where);
  // /opt/cake/ORIGIN/usr/bin/x was /usr/bin/x in its origin
  const origin = w.program.startsWith(OPT_CAKE + '/') ? w.program.slice(OPT_CAKE.length + 1).replace(/^[^/]+/, '') : w.program;
  return planDynamic(src, guestPath, origin, r.hostPath, info, modeIn(src, r.guestPath, lstatSync(r.hostPath).mode), where, { interp: w.loader, libraryPath: [w.libDir] }, w.program);
}

async function planDynamic(
  src: AddSource,
  guestPath: string,
  realGuestPath: string,
  hostPath: string,
  info: ElfInfo,
  mode: number,
  where: string,
  start: StartOptions,
  closureFrom = guestPath,
): Promise<AddPlan> {
  const plan = emptyPlan();
  const role = elfRole(info);
  const r = { guestPath: realGuestPath, hostPath };
  const closure = await resolveClosure(src.root, closureFrom, start);
  if (closure.missing.length > 0) {
    throw new CakeError('not-found', `${where} needs libraries that ${src.label === 'host' ? 'the host' : src.label} does not have: ${closure.missing.map((m) => `${m.name} (for ${m.neededBy})`).join(', ')}`, {
      hint: 'install them in the source env first',
    });
  }
  if (role === 'dynamic-exe' && !closure.interp) {
    throw new CakeError('not-found', `${where} needs the loader ${info.interp}, which is not in ${src.label}`);
  }
  const base = posix.join(OPT_CAKE, src.label);
  const libDir = posix.join(base, 'lib');
  const seen = new Set<string>();
  const put = (dest: string, hostPath: string, m: number): void => {
    if (seen.has(dest)) return;
    seen.add(dest);
    plan.items.push({ kind: 'file', dest, src: hostPath, mode: m, sha256: LATER });
  };
  for (const [name, lib] of closure.libs) put(posix.join(libDir, name), lib.hostPath, modeIn(src, lib.realGuestPath, lstatSync(lib.hostPath).mode));
  if (role === 'library') {
    put(posix.join(libDir, info.soname ?? posix.basename(guestPath)), r.hostPath, mode);
    plan.summary.push(`${posix.join(libDir, info.soname ?? posix.basename(guestPath))}: a library from ${where}, with ${closure.libs.size} libraries it needs`);
    return plan;
  }
  const loader = posix.join(libDir, posix.basename(info.interp!));
  put(loader, closure.interp!.hostPath, 0o755);
  const real = posix.join(base, r.guestPath);
  put(real, r.hostPath, mode);
  const argv0 = supportsArgv0(closure.interp!.hostPath) ? ' --argv0 "$0"' : '';
  const wrapper = [
    '#!/bin/sh',
    `# Added by cake from ${where}: runs it with its own loader and libraries (${base}).`,
    `exec ${quote(loader)} --library-path ${quote(libDir)}${argv0} ${quote(real)} "$@"`,
    '',
  ].join('\n');
  plan.items.push({ kind: 'text', dest: guestPath, content: wrapper, mode: 0o755 });
  plan.needsShell = true;
  plan.summary.push(`${guestPath}: from ${where}, with its loader and ${closure.libs.size} libraries in ${libDir}`);
  return plan;
}

/**
 * Plans copying Nix store paths (or paths inside them) with their closure into /nix/store of the
 * target; the bin/ directory of each given path goes on PATH.
 */
export async function planNix(paths: readonly string[], deps: NixDeps): Promise<{ plan: AddPlan; closure: string[]; method: string }> {
  const plan = emptyPlan();
  const { paths: closure, method } = await nixClosure(paths, deps);
  for (const p of closure) {
    plan.storePaths.push(p);
    const st = lstatSync(p);
    if (st.isDirectory()) treeItems({ label: 'nix', root: '/' }, p, p, p, plan.items, false);
    else if (st.isSymbolicLink()) plan.items.push({ kind: 'symlink', dest: p, target: readlinkSync(p) });
    else plan.items.push({ kind: 'file', dest: p, src: p, mode: st.mode & 0o7777, sha256: '' });
  }
  for (const p of paths) {
    const root = storePathRoot(p, deps.storeDir)!;
    const st = lstatSync(root);
    let onPath: string | undefined;
    if (st.isDirectory()) {
      const bin = posix.join(root, 'bin');
      if (lstatSync(bin, { throwIfNoEntry: false })?.isDirectory()) onPath = bin;
    } else if (st.isFile() && (st.mode & 0o111) !== 0) {
      // a single-file store path (nix-store --add, writeScript): linked by its name into a PATH dir
      const name = posix.basename(root).replace(/^[^-]+-/, '');
      plan.items.push({ kind: 'symlink', dest: posix.join(NIX_BIN, name), target: root });
      onPath = NIX_BIN;
    }
    if (onPath && !plan.pathDirs.includes(onPath)) plan.pathDirs.push(onPath);
    const shown = onPath === NIX_BIN ? `${NIX_BIN}/${posix.basename(root).replace(/^[^-]+-/, '')} on PATH` : onPath ? `${onPath} on PATH` : '';
    plan.summary.push(`${root}: ${st.isDirectory() ? '' : 'a single file, '}with ${closure.length - 1} store paths of its closure (${method})${shown ? `, ${shown}` : ''}`);
  }
  return { plan, closure, method };
}

/** Every plan in one, in order. */
export function mergePlans(plans: readonly AddPlan[]): AddPlan {
  const out = emptyPlan();
  for (const p of plans) {
    out.items.push(...p.items);
    for (const d of p.pathDirs) if (!out.pathDirs.includes(d)) out.pathDirs.push(d);
    out.storePaths.push(...p.storePaths.filter((s) => !out.storePaths.includes(s)));
    out.summary.push(...p.summary);
    out.needsShell ||= p.needsShell;
  }
  return out;
}

/** What identifies a plan's result (for cache keys and lock files): every destination and digest. */
export function planDigests(plan: AddPlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of plan.items) {
    if (it.kind === 'file') out[it.dest] = it.sha256 ? `${it.sha256} ${it.mode.toString(8)}` : `store ${it.mode.toString(8)}`;
    else if (it.kind === 'text') out[it.dest] = `${createHash('sha256').update(it.content).digest('hex')} ${it.mode.toString(8)}`;
    else if (it.kind === 'symlink') out[it.dest] = `-> ${it.target}`;
    else out[it.dest] = `dir ${it.mode.toString(8)}`;
  }
  return out;
}
