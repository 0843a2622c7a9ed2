/**
 * The runtime closure of a dynamic ELF program inside a root filesystem: its interpreter and every
 * library it needs, found the way the source's own dynamic loader would find them. Per object, in
 * breadth-first load order: a name with a '/' is a path; otherwise DT_RPATH of the object and of
 * each object that loaded it up to the program (only while none of them has DT_RUNPATH), then
 * DT_RUNPATH of the object, then the ld.so.conf directories (with `include` globs; the stand-in for
 * ld.so.cache), then the default directories (Debian multiarch, lib64, lib). musl programs use
 * /etc/ld-musl-ARCH.path or musl's defaults instead. $ORIGIN, $LIB and $PLATFORM are expanded;
 * candidates of another class, byte order or machine are skipped, as the loader skips them.
 * All lookups stay inside the root: guest symlinks are followed as guest paths.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { CakeError } from '../model/errors.js';
import { resolveGuestPath, type ResolvedGuestPath } from '../run/guest-path.js';
import { readElfFile, type ElfInfo } from '../archive/elf.js';
import { multiarchTriplets, muslArch, platformName } from '../archive/elf-arch.js';

/** One object of a closure. */
export interface ClosureObject {
  /** The guest path it was found at (its $ORIGIN is the directory of this path). */
  guestPath: string;
  /** The same with every symlink followed (what holds the bytes). */
  realGuestPath: string;
  /** Where the bytes are on the host. */
  hostPath: string;
  info: ElfInfo;
}

export interface Closure {
  main: ClosureObject;
  interp?: ClosureObject;
  /** Libraries by the name they are needed as (DT_NEEDED), in load order. */
  libs: Map<string, ClosureObject>;
  /** Names no search found, with the object that needs them. */
  missing: { name: string; neededBy: string }[];
}

/** Resolves a guest path inside `root` (`/` is the host itself). */
export async function resolveIn(root: string, guestPath: string): Promise<ResolvedGuestPath> {
  const r = await resolveGuestPath(root === '/' ? '' : root, [], guestPath);
  return r.hostPath === '' ? { ...r, hostPath: '/' } : r;
}

function compatible(a: ElfInfo, b: ElfInfo): boolean {
  return a.bits === b.bits && a.endian === b.endian && a.machine === b.machine;
}

/** Expands $ORIGIN, $LIB and $PLATFORM in one search path entry; an unknown variable drops it. */
export function expandTokens(entry: string, origin: string, info: ElfInfo): string[] {
  let outs = [entry];
  const sub = (name: string, values: string[]): void => {
    const re = new RegExp(`\\$(\\{${name}\\}|${name}(?![A-Za-z0-9_]))`, 'g');
    outs = outs.flatMap((o) => (re.test(o) ? values.map((v) => o.replace(re, () => v)) : [o]));
  };
  sub('ORIGIN', [origin]);
  const libs = [...multiarchTriplets(info).map((t) => `lib/${t}`), info.bits === 64 ? 'lib64' : 'lib', 'lib'];
  sub('LIB', [...new Set(libs)]);
  const plat = platformName(info);
  if (plat) sub('PLATFORM', [plat]);
  return outs.filter((o) => !o.includes('$')).map((o) => (o.startsWith('/') ? posix.normalize(o) : o));
}

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${esc}$`);
}

/**
 * The directories of /etc/ld.so.conf in `root`, in order, following `include` lines (globs in
 * the last component, relative patterns relative to the including file's directory), at most
 * 16 levels deep. `hwcap` lines are ignored. Missing files give no directories.
 */
export async function ldSoConfDirs(root: string, file = '/etc/ld.so.conf', depth = 0, seen = new Set<string>()): Promise<string[]> {
  if (depth > 16 || seen.has(file)) return [];
  seen.add(file);
  const r = await resolveIn(root, file);
  if (r.kind !== 'file') return [];
  let text: string;
  try {
    text = readFileSync(r.hostPath, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '' || line.startsWith('hwcap ')) continue;
    const inc = /^include\s+(.+)$/.exec(line);
    if (inc) {
      for (const pattern of inc[1]!.split(/\s+/)) {
        const abs = pattern.startsWith('/') ? pattern : posix.join(posix.dirname(file), pattern);
        for (const f of await expandGlob(root, abs)) out.push(...(await ldSoConfDirs(root, f, depth + 1, seen)));
      }
      continue;
    }
    for (const d of line.split(/[\s:,]+/)) if (d.startsWith('/')) out.push(posix.normalize(d));
  }
  return out;
}

async function expandGlob(root: string, pattern: string): Promise<string[]> {
  const dir = posix.dirname(pattern);
  const base = posix.basename(pattern);
  if (!/[*?[]/.test(base)) return [pattern];
  const r = await resolveIn(root, dir);
  if (r.kind !== 'dir') return [];
  const re = globToRegExp(base);
  let names: string[];
  try {
    names = readdirSync(r.hostPath);
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n)).sort().map((n) => posix.join(dir, n));
}

async function defaultDirs(root: string, main: ElfInfo, interp: string | undefined): Promise<string[]> {
  if (interp?.includes('ld-musl')) {
    const arch = muslArch(main);
    const r = arch ? await resolveIn(root, `/etc/ld-musl-${arch}.path`) : undefined;
    if (r?.kind === 'file') {
      const dirs = readFileSync(r.hostPath, 'utf8').split(/[\n:]/).map((s) => s.trim()).filter((s) => s.startsWith('/'));
      if (dirs.length > 0) return dirs;
    }
    return ['/lib', '/usr/local/lib', '/usr/lib'];
  }
  const trip = multiarchTriplets(main);
  return [
    ...(await ldSoConfDirs(root)),
    ...trip.flatMap((t) => [`/lib/${t}`, `/usr/lib/${t}`]),
    ...(main.bits === 64 ? ['/lib64', '/usr/lib64'] : ['/lib32', '/usr/lib32']),
    '/lib',
    '/usr/lib',
  ];
}

async function load(root: string, guestPath: string, want?: ElfInfo): Promise<ClosureObject | undefined> {
  const r = await resolveIn(root, guestPath);
  if (r.kind !== 'file') return undefined;
  let info: ElfInfo | undefined;
  try {
    info = readElfFile(r.hostPath);
  } catch {
    return undefined; // unreadable or malformed: the loader would skip it too
  }
  if (!info || (want && !compatible(info, want))) return undefined;
  return { guestPath: posix.normalize(guestPath), realGuestPath: r.guestPath, hostPath: r.hostPath, info };
}

/** How the program is started, when not by the kernel from its PT_INTERP. */
export interface StartOptions {
  /** The loader it is started with (`LOADER PROGRAM`). */
  interp?: string;
  /** `--library-path` / LD_LIBRARY_PATH: searched after DT_RPATH, before DT_RUNPATH. */
  libraryPath?: string[];
}

/**
 * Finds the interpreter and the libraries of the program at `guestPath` in `root` (`/` for the
 * host). Throws CakeError('not-found') when the program is missing or not ELF. Libraries that
 * cannot be found are listed in `missing` rather than thrown, so the caller can name them all.
 * Reads only.
 */
export async function resolveClosure(root: string, guestPath: string, start: StartOptions = {}): Promise<Closure> {
  const main = await load(root, guestPath);
  if (!main) throw new CakeError('not-found', `${guestPath} is not an ELF file`);
  const interpPath = start.interp ?? main.info.interp;
  let interp: ClosureObject | undefined;
  if (interpPath !== undefined) {
    interp = await load(root, interpPath, main.info);
    // A tree extracted without its merged-/usr symlinks still has the loader under /usr.
    if (!interp && !interpPath.startsWith('/usr/')) interp = await load(root, '/usr' + interpPath, main.info);
  }
  const defaults = await defaultDirs(root, main.info, interpPath);
  const libs = new Map<string, ClosureObject>();
  const bySoname = new Map<string, ClosureObject>();
  const missing: Closure['missing'] = [];
  const loaderOf = new Map<ClosureObject, ClosureObject | undefined>([[main, undefined]]);
  const originOf = (o: ClosureObject): string => posix.dirname(o === main ? o.realGuestPath : o.guestPath);
  const queue: ClosureObject[] = [main];
  while (queue.length > 0) {
    const obj = queue.shift()!;
    for (const name of obj.info.needed) {
      if (libs.has(name) || bySoname.has(name)) continue;
      const found = await find(root, name, obj, main, loaderOf, originOf, defaults, start.libraryPath ?? []);
      if (!found) {
        missing.push({ name, neededBy: obj.guestPath });
        continue;
      }
      const known = found.info.soname ? bySoname.get(found.info.soname) : undefined;
      if (known) {
        libs.set(name, known);
        continue;
      }
      libs.set(name, found);
      if (found.info.soname) bySoname.set(found.info.soname, found);
      loaderOf.set(found, obj);
      queue.push(found);
    }
  }
  return { main, ...(interp ? { interp } : {}), libs, missing };
}

async function find(
  root: string,
  name: string,
  obj: ClosureObject,
  main: ClosureObject,
  loaderOf: Map<ClosureObject, ClosureObject | undefined>,
  originOf: (o: ClosureObject) => string,
  defaults: string[],
  libraryPath: string[],
): Promise<ClosureObject | undefined> {
  if (name.includes('/')) return name.startsWith('/') ? load(root, name, main.info) : undefined;
  const dirs: string[] = [];
  if (obj.info.runpath === undefined) {
    for (let o: ClosureObject | undefined = obj; o; o = loaderOf.get(o)) {
      if (o.info.runpath === undefined) for (const e of o.info.rpath) dirs.push(...expandTokens(e, originOf(o), o.info));
    }
    dirs.push(...libraryPath);
  } else {
    dirs.push(...libraryPath);
    for (const e of obj.info.runpath) dirs.push(...expandTokens(e, originOf(obj), obj.info));
  }
  dirs.push(...defaults);
  const tried = new Set<string>();
  for (const d of dirs) {
    if (!d.startsWith('/') || tried.has(d)) continue;
    tried.add(d);
    const hit = await load(root, posix.join(d, name), main.info);
    if (hit) return hit;
  }
  return undefined;
}
