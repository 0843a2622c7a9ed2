/**
 * A Debian kernel package made ready for baking, once per package, in the cache:
 * `bake/kernels/<sha256 of the .deb>/` holds vmlinuz, the kernel release, a module database in
 * depmod's formats (generated from every module's .modinfo: the package ships no modules.dep)
 * and every module of the package, decompressed, in its /lib/modules/RELEASE layout: the image
 * gets the whole directory (hard links from here), so the booted system can load any module.
 * Reading the package means decompressing ~400 MB: it is done once per package (a cache entry
 * from before, which kept only the initramfs' modules, or had no manifest, is redone). Each use
 * checks the entry against the manifest written with it (kernel-seal.ts); a damaged entry is
 * unpacked again, with a warning. Concurrent bakes are serialised by a lock per package. Every
 * file it writes is 0644 and every directory 0755, whatever the umask of the user baking (the
 * image takes these modes): two homes give the same image.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TarReader, type EntrySink, type TarEntry } from '../archive/tar-reader.js';
import { openDeb } from '../debian/deb-file.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { withLock } from '../store/lock.js';
import type { CakePaths } from '../store/paths.js';
import { readModinfo, type ModInfo } from './modinfo.js';
import { isSealed, kernelEntryDamage, sealKernelEntry } from './kernel-seal.js';
import { parseModulesDb, writeModulesTexts, type ModulesDb } from './modules-dep.js';

export interface PreparedKernel {
  release: string;
  vmlinuz: string;
  /** The /lib/modules/RELEASE directory (modules.dep and the modules kept so far). */
  modulesDir: string;
  db: ModulesDb;
}

/** A directory (and its missing parents) with mode 0755, not the umask's. */
function mkdirs(dir: string): void {
  const first = mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = dir; d.length >= first.length; d = dirname(d)) chmodSync(d, 0o755);
}

/** A file with mode 0644 (not the umask's) and, when given, the package's time. */
function writeFixed(file: string, data: string | Buffer, mtime?: number): void {
  writeFileSync(file, data, { mode: 0o644 });
  chmodSync(file, 0o644);
  if (mtime !== undefined) utimesSync(file, mtime, mtime);
}

const MODULE_PATH = /^(?:\.\/)?(?:usr\/)?lib\/modules\/([^/]+)\/(.+)$/;
const VMLINUZ = /^(?:\.\/)?boot\/vmlinuz-(.+)$/;
/** Marks a cache entry that holds every module of the package. */
const COMPLETE = 'all-modules-v2';

/**
 * The prepared kernel of the .deb at `debPath` (sha256 `sha256`), with at least the modules
 * `need(db)` returns (paths relative to the modules directory). Idempotent.
 */
export async function prepareDebianKernel(
  deps: { paths: CakePaths; logger: Logger; signal?: AbortSignal },
  deb: { path: string; sha256: string; label: string },
  need: (db: ModulesDb) => string[],
): Promise<PreparedKernel> {
  const dir = join(deps.paths.cache, 'bake', 'kernels', deb.sha256);
  mkdirSync(deps.paths.locks, { recursive: true });
  const lock = join(deps.paths.locks, `bake-kernel-${deb.sha256}.lock`);
  return withLock(lock, { what: `the kernel cache of ${deb.label}`, ...(deps.signal ? { signal: deps.signal } : {}) }, async () => {
    const hashing = deps.signal ? { signal: deps.signal } : {};
    const made = existsSync(join(dir, 'release')) && existsSync(join(dir, COMPLETE)) && isSealed(dir);
    const damage = made ? await kernelEntryDamage(dir, hashing) : undefined;
    if (damage !== undefined) deps.logger.warn(`the cached ${deb.label} is damaged (${damage}); it is unpacked again`);
    if (!made || damage !== undefined) {
      if (damage === undefined) deps.logger.info(`unpacking ${deb.label} (once: it is kept in the cache)`);
      rmSync(dir, { recursive: true, force: true });
      const tmp = `${dir}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      // the cache's own parents keep the user's umask; the entry and what is in it get fixed modes
      mkdirSync(dirname(tmp), { recursive: true });
      mkdirs(tmp);
      try {
        await unpack(deb.path, tmp, null);
        writeFixed(join(tmp, COMPLETE), '');
        await sealKernelEntry(tmp, hashing);
        renameSync(tmp, dir);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    let k = load(dir);
    const missing = need(k.db).filter((rel) => !existsSync(join(k.modulesDir, rel)));
    if (missing.length > 0) {
      deps.logger.info(`unpacking ${missing.length} more module(s) from ${deb.label}`);
      await unpack(deb.path, dir, new Set(missing));
      await sealKernelEntry(dir, hashing);
      k = load(dir);
    }
    return k;
  });
}

function load(dir: string): PreparedKernel {
  const release = readFileSync(join(dir, 'release'), 'utf8').trim();
  const modulesDir = join(dir, 'modules', release);
  const read = (name: string): string => {
    try {
      return readFileSync(join(modulesDir, name), 'utf8');
    } catch {
      return '';
    }
  };
  const db = parseModulesDb({ dep: read('modules.dep'), softdep: read('modules.softdep'), alias: read('modules.alias'), builtin: read('modules.builtin') });
  return { release, vmlinuz: join(dir, 'vmlinuz'), modulesDir, db };
}

/**
 * Reads the package's data.tar once. With `only` null (first time): writes vmlinuz, the release,
 * modules.builtin, the module database and every module; otherwise keeps
 * just the module paths in `only`.
 */
async function unpack(debPath: string, dir: string, only: Set<string> | null): Promise<void> {
  const deb = await openDeb(debPath);
  const stream = await deb.dataStream();
  const infos: Array<{ path: string; info: ModInfo }> = [];
  let release: string | undefined;
  let builtin = '';
  let builtinTime: number | undefined;
  const collect = (done: (data: Buffer) => void): EntrySink => {
    const chunks: Buffer[] = [];
    return {
      write(buf, start, end) {
        chunks.push(Buffer.from(buf.subarray(start, end)));
      },
      end() {
        done(Buffer.concat(chunks));
      },
    };
  };
  const handler = (e: TarEntry): EntrySink | null => {
    if (e.type !== 'file') return null;
    const vm = VMLINUZ.exec(e.path);
    if (vm !== null && only === null) {
      release = vm[1] as string;
      return collect((data) => writeFixed(join(dir, 'vmlinuz'), data, e.mtime));
    }
    const m = MODULE_PATH.exec(e.path);
    if (m === null) return null;
    const rel = m[2] as string;
    if (rel === 'modules.builtin' && only === null) {
      builtinTime = e.mtime;
      return collect((data) => (builtin = data.toString('utf8')));
    }
    if ((rel === 'modules.order' || rel === 'modules.builtin.modinfo') && only === null) {
      return collect((data) => {
        mkdirs(join(dir, 'modules', m[1] as string));
        writeFixed(join(dir, 'modules', m[1] as string, rel), data, e.mtime);
      });
    }
    if (!/\.ko(\.(xz|gz|zst))?$/.test(rel)) return null;
    const plainRel = rel.replace(/\.(xz|gz|zst)$/, '');
    if (only !== null && !only.has(plainRel)) return null;
    return collect((data) => {
      const ko = decompressModule(data, rel);
      if (only === null) infos.push({ path: plainRel, info: readModinfo(ko, rel) });
      const target = join(dir, 'modules', m[1] as string, plainRel);
      mkdirs(dirname(target));
      // the package's time, not the unpacking's: images hard-link these files and keep their times
      writeFixed(target, ko, e.mtime);
    });
  };
  const reader = new TarReader(handler);
  for await (const chunk of stream as AsyncIterable<Buffer>) reader.write(chunk);
  reader.end();
  if (only !== null) return;
  if (release === undefined) throw new CakeError('bake', `${debPath} is not a kernel package: it has no /boot/vmlinuz-*`);
  const modulesDir = join(dir, 'modules', release);
  mkdirs(modulesDir);
  const texts = writeModulesTexts(infos);
  writeFixed(join(modulesDir, 'modules.dep'), texts.dep);
  writeFixed(join(modulesDir, 'modules.softdep'), texts.softdep);
  writeFixed(join(modulesDir, 'modules.alias'), texts.alias);
  writeFixed(join(modulesDir, 'modules.builtin'), builtin, builtinTime);
  writeFixed(join(dir, 'release'), `${release}\n`);
}

/** A module's ELF bytes: .ko as is, .ko.gz in-process, .ko.xz and .ko.zst through xz and zstd. */
export function decompressModule(data: Buffer, name: string): Buffer {
  if (name.endsWith('.ko')) return data;
  if (name.endsWith('.gz')) return gunzipSync(data);
  const tool = name.endsWith('.xz') ? 'xz' : 'zstd';
  const r = spawnSync(tool, ['-dc'], { input: data, maxBuffer: 1 << 30 });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error?.message ?? r.stderr.toString().trim();
    const missing = r.error !== undefined;
    throw new CakeError(missing ? 'missing-tool' : 'bad-archive', `cannot decompress the kernel module ${name}: ${why}`, missing ? { hint: `install ${tool === 'xz' ? 'xz-utils' : 'zstd'}` } : {});
  }
  return r.stdout;
}
