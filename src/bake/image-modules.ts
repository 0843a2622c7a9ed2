/**
 * The kernel's modules in the image: a kernel cake brings (`--kernel debian`, or a kernel file with
 * module directories) has its modules added to the image's /lib/modules/RELEASE, so the booted
 * system loads what it needs (systemd's autofs4, filesystems, NIC drivers). The modules are hard
 * links from the kernel cache (never the env's files); the module indexes are regenerated in the
 * farm with the host's `depmod -b` (the kmod package), and every added entry gets
 * SOURCE_DATE_EPOCH as its time so the image stays reproducible. An env that already has a
 * /lib/modules/RELEASE of its own keeps it.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, lutimesSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CakeError } from '../model/errors.js';
import { resolveInRoot } from './guest-path.js';
import type { ToolRunner } from './tools.js';

/** Adds `modulesDir` as /lib/modules/`release` in `farm`; returns the note to print, or undefined when the env had them. */
export async function addKernelModules(farm: string, release: string, modulesDir: string, tools: ToolRunner, sde: number): Promise<string | undefined> {
  const lib = resolveInRoot(farm, '/lib') ?? join(farm, 'lib');
  const parent = join(lib, 'modules');
  const target = join(parent, release);
  if (lstatSync(target, { throwIfNoEntry: false }) !== undefined) return undefined;
  mkdirSync(parent, { recursive: true });
  // hard links when the cache is on the same filesystem (it is cake's, not the env's), else a copy
  let cp = spawnSync('cp', ['-al', '--', modulesDir, target], { encoding: 'utf8' });
  if (cp.status !== 0) {
    rmSync(target, { recursive: true, force: true });
    cp = spawnSync('cp', ['-a', '--reflink=auto', '--no-preserve=ownership', '--', modulesDir, target], { encoding: 'utf8' });
  }
  if (cp.status !== 0) throw new CakeError('bake', `cannot add the kernel's modules to the image: ${cp.stderr.trim() || cp.error?.message}`);
  for (const f of readdirSync(target)) if (/^modules\./.test(f)) rmSync(join(target, f), { force: true });
  // depmod -b BASE looks in BASE/lib/modules; the farm's /lib may be a symlink into usr/, which it follows
  await tools.run('depmod', ['-b', farm, release], { what: `indexing the kernel's modules (depmod ${release})` });
  let files = 0;
  let bytes = 0;
  const stamp = (p: string): void => {
    const st = lstatSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) stamp(join(p, n));
    else {
      files++;
      bytes += st.size;
    }
    lutimesSync(p, sde, sde);
  };
  stamp(target);
  return `added the kernel's modules to the image: /lib/modules/${release} (${files} files, ${Math.round(bytes / 1048576)} MiB)`;
}
