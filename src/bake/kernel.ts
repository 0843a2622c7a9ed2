/**
 * Where the kernel of a baked image comes from, as a vmlinuz file plus a module database:
 * - `debian`: a kernel package from the Debian archive (see src/kit/archive-fetch.ts, kernel-cache.ts);
 * - `env`: the env's own /boot/vmlinuz-RELEASE and /lib/modules/RELEASE (a Debian/Ubuntu env with
 *   a kernel installed; modules.dep as its depmod wrote it);
 * - a path: any bzImage, with `--modules DIR` for its modules (or none: everything built in).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CakeError, OptionError } from '../model/errors.js';
import { compareVersions } from '../debian/version.js';
import { decompressModule } from './kernel-cache.js';
import { resolveInRoot } from '../run/guest-path.js';
import { parseModulesDb, type ModulesDb } from './modules-dep.js';

export interface KernelFiles {
  release: string;
  /** Host path of the kernel image. */
  vmlinuz: string;
  /** Host path of /lib/modules/RELEASE, when the kernel has modules. */
  modulesDir?: string;
  db?: ModulesDb;
  /** For messages: where the kernel came from. */
  label: string;
}

/** The module (decompressed) at `rel` in the kernel's modules directory. */
export function readModule(k: KernelFiles, rel: string): Buffer {
  if (k.modulesDir === undefined) throw new CakeError('internal', 'the kernel has no modules directory');
  return decompressModule(readFileSync(join(k.modulesDir, rel)), rel);
}

/** The kernel release a bzImage announces in its setup header ("6.1.0-27-amd64 (…) #1 SMP …"). */
export function bzImageRelease(image: Buffer): string | undefined {
  if (image.length < 0x210 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const at = 0x200 + image.readUInt16LE(0x20e);
  if (at <= 0x200 || at >= image.length) return undefined;
  const end = image.indexOf(0, at);
  const text = image.toString('latin1', at, end < 0 ? Math.min(image.length, at + 256) : end);
  return text.split(' ')[0] || undefined;
}

/** The env's kernel: the newest /boot/vmlinuz-RELEASE whose modules directory exists. */
export function envKernel(rootfs: string, envName: string): KernelFiles {
  const boot = resolveInRoot(rootfs, '/boot');
  const releases = (boot === undefined ? [] : readdirSync(boot))
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .sort(compareVersions)
    .reverse();
  if (releases.length === 0) {
    throw new CakeError('bake', `environment ${envName} has no kernel (no /boot/vmlinuz-*)`, {
      hint: `install one in it (cake exec ${envName} -- apt-get install -y linux-image-amd64) or use --kernel debian`,
    });
  }
  for (const release of releases) {
    const vmlinuz = resolveInRoot(rootfs, `/boot/vmlinuz-${release}`) as string;
    const modulesDir = resolveInRoot(rootfs, `/lib/modules/${release}`) ?? resolveInRoot(rootfs, `/usr/lib/modules/${release}`);
    if (modulesDir === undefined) continue;
    return { release, vmlinuz, modulesDir, db: readModulesDb(modulesDir, `${envName}:/lib/modules/${release}`), label: `the env's kernel ${release}` };
  }
  throw new CakeError('bake', `environment ${envName} has /boot/vmlinuz-${releases[0]} but no /lib/modules/${releases[0]}`, {
    hint: 'reinstall the kernel package in the env, or use --kernel debian',
  });
}

/** A kernel image given by path, with modules from one of `moduleDirs` (DIR, DIR/RELEASE or DIR/lib/modules/RELEASE). */
export function pathKernel(path: string, moduleDirs: readonly string[]): KernelFiles {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CakeError('bake', `kernel ${path}: no such file`, { hint: 'give the path of a bzImage, or --kernel debian / --kernel env' });
  }
  if (!st.isFile()) throw new CakeError('bake', `kernel ${path} is not a file`, { hint: 'give the path of a bzImage' });
  const release = bzImageRelease(readFileSync(path));
  if (release === undefined) throw new CakeError('bake', `kernel ${path} is not an x86 bzImage (no setup header)`, { hint: 'give a bzImage (arch/x86/boot/bzImage, /boot/vmlinuz-*)' });
  if (moduleDirs.length > 1) throw new OptionError(['moduleDirs'], '{moduleDirs} names more than one modules directory', 'give one directory (module names may be several)');
  const dir = moduleDirs[0];
  if (dir === undefined) return { release, vmlinuz: path, label: `kernel ${path} (${release}, no modules)` };
  const candidates = [dir, join(dir, release), join(dir, 'lib/modules', release), join(dir, 'usr/lib/modules', release)];
  const modulesDir = candidates.find((c) => existsSync(join(c, 'modules.dep')));
  if (modulesDir === undefined) {
    throw new CakeError('bake', `--modules ${dir}: no modules.dep for ${release} (looked in ${candidates.join(', ')})`, {
      hint: `run depmod -b DIR ${release}, or give the /lib/modules/${release} directory`,
    });
  }
  return { release, vmlinuz: path, modulesDir, db: readModulesDb(modulesDir, modulesDir), label: `kernel ${path} (${release})` };
}

function readModulesDb(dir: string, label: string): ModulesDb {
  const read = (name: string): string | undefined => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const dep = read('modules.dep');
  if (dep === undefined) {
    throw new CakeError('bake', `${label} has no modules.dep`, { hint: 'run depmod for that kernel release (in the env: cake exec ENV -- depmod RELEASE)' });
  }
  return parseModulesDb({ dep, softdep: read('modules.softdep') ?? '', alias: read('modules.alias') ?? '', builtin: read('modules.builtin') ?? '' });
}
