/**
 * The kernel's modules in the image: a kernel cake brings (`--kernel debian`, or a kernel file with
 * module directories) has its modules added to the image's /lib/modules/RELEASE, so the booted
 * system loads what it needs (systemd's autofs4, filesystems, NIC drivers). The modules are hard
 * links from the kernel cache (never the env's files); the module indexes are regenerated in the
 * farm with the host's `depmod -b` (the kmod package). The modules keep the package's times (the
 * cache sets them), the indexes and directories get SOURCE_DATE_EPOCH: the image stays
 * reproducible, and concurrent bakes never change each other's files. Modes are fixed (directories
 * 0755, files 0644), never the umask's: the cache's files, depmod's output and the copies are made
 * by the user baking. An env that already has a
 * /lib/modules/RELEASE of its own keeps it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, lutimesSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CakeError } from '../model/errors.js';
import { resolveInRoot } from '../run/guest-path.js';
import type { ToolRunner } from './tools.js';

/** The files depmod writes (the ones cake's kernel cache wrote are replaced too). */
const DEPMOD_OUTPUT = /^modules\.(dep|dep\.bin|alias|alias\.bin|softdep|symbols|symbols\.bin|builtin\.bin|builtin\.alias\.bin|devname)$/;

/**
 * Adds `modulesDir` as /lib/modules/`release` in `farm`; returns the note to print, or undefined
 * when the env had them. With `indexCache` (a directory only cake writes, for modules that do not
 * change — a Debian kernel's), depmod's output is kept there and reused by the next bake.
 */
export async function addKernelModules(farm: string, release: string, modulesDir: string, tools: ToolRunner, sde: number, indexCache?: string): Promise<string | undefined> {
  const lib = resolveInRoot(farm, '/lib') ?? join(farm, 'lib');
  const parent = join(lib, 'modules');
  const target = join(parent, release);
  if (lstatSync(target, { throwIfNoEntry: false }) !== undefined) return undefined;
  // a /lib/modules the env lacks gets 0755, not the umask's mode
  const made = mkdirSync(parent, { recursive: true });
  if (made !== undefined) for (let d = parent; d.length >= made.length; d = dirname(d)) chmodSync(d, 0o755);
  // hard links when the cache is on the same filesystem (it is cake's, not the env's), else a copy
  let cp = spawnSync('cp', ['-al', '--', modulesDir, target], { encoding: 'utf8' });
  if (cp.status !== 0) {
    rmSync(target, { recursive: true, force: true });
    cp = spawnSync('cp', ['-a', '--reflink=auto', '--no-preserve=ownership', '--', modulesDir, target], { encoding: 'utf8' });
  }
  if (cp.status !== 0) throw new CakeError('bake', `cannot add the kernel's modules to the image: ${cp.stderr.trim() || cp.error?.message}`);
  for (const f of readdirSync(target)) if (DEPMOD_OUTPUT.test(f)) rmSync(join(target, f), { force: true });
  if (indexCache !== undefined && existsSync(join(indexCache, 'modules.dep.bin'))) {
    for (const f of readdirSync(indexCache)) copyFileSync(join(indexCache, f), join(target, f));
  } else {
    // depmod -b BASE looks in BASE/lib/modules; the farm's /lib may be a symlink into usr/, which it follows
    await tools.run('depmod', ['-b', farm, release], { what: `indexing the kernel's modules (depmod ${release})` });
    if (indexCache !== undefined) {
      const tmp = `${indexCache}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      for (const f of readdirSync(target)) if (DEPMOD_OUTPUT.test(f)) copyFileSync(join(target, f), join(tmp, f));
      rmSync(indexCache, { recursive: true, force: true });
      renameSync(tmp, indexCache);
    }
  }
  let files = 0;
  let bytes = 0;
  // Only the farm's own entries get SOURCE_DATE_EPOCH: the hard-linked modules are the cache's
  // inodes, shared with concurrent bakes, and keep the package's times (clamped in the image).
  // Every entry gets its fixed mode (a cache inode too: a cache made under umask 077 by an earlier
  // cake is mended, and a concurrent bake sets the same mode).
  const stamp = (p: string): void => {
    const st = lstatSync(p);
    const mode = st.isDirectory() ? 0o755 : 0o644;
    if (!st.isSymbolicLink() && (st.mode & 0o7777) !== mode) chmodSync(p, mode);
    if (st.isDirectory()) for (const n of readdirSync(p)) stamp(join(p, n));
    else {
      files++;
      bytes += st.size;
    }
    if (st.isDirectory() || DEPMOD_OUTPUT.test(p.slice(p.lastIndexOf('/') + 1)) || st.nlink === 1) lutimesSync(p, sde, sde);
  };
  stamp(target);
  return `added the kernel's modules to the image: /lib/modules/${release} (${files} files, ${Math.round(bytes / 1048576)} MiB)`;
}
