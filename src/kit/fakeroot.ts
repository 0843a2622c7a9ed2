/**
 * The fakeroot kit of an env: `fakeroot`, `libfakeroot` and `libc6` packages (the verified .debs,
 * kept in the blob store and listed in env.json as `resolved.fakeroot`), unpacked once into
 * `<cache>/fakeroot/<key>/`. An env built from a Debian/Ubuntu archive has its own archive's; any
 * other env (registry image, OCI layout, tarball, import, cooked) gets the standard kit, Debian
 * STANDARD_KIT_RELEASE's packages (standard-kit.ts). libfakeroot-sysv.so is loaded into the
 * guest's programs, so it needs the guest's glibc to provide the symbol versions it was linked
 * against (`needs`, read from the library: GLIBC_2.34 for bookworm's); the engine checks that
 * before each run (run/guest-libc.ts). faked runs on the host from the kit, through the kit's own glibc
 * loader (`ld-linux… --inhibit-cache --library-path …`), so neither the host's libc nor anything of
 * the env runs outside it; only libfakeroot-sysv.so is made visible to the guest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { glibcVersions } from '../run/guest-libc.js';
import type { FakerootKit } from '../run/kit-provider.js';
import type * as Unpack from './deb-unpack.js';

let unpack: typeof Unpack;

/** Bumped when the kit's layout or manifest changes. */
const KIT_FORMAT = 2;

export type { FakerootKit } from '../run/kit-provider.js';

/** The kit's key: its packages' digests, whatever their order. Pure. */
export function kitKey(sha256s: readonly string[]): string {
  return createHash('sha256').update(`cake-fakeroot-kit ${KIT_FORMAT}\n${[...sha256s].sort().join('\n')}\n`).digest('hex');
}

/**
 * The kit for these .debs (path and sha256 of each verified blob), unpacked under
 * `<cacheDir>/fakeroot/` on first use (staged, then renamed: concurrent callers get the same
 * result). Throws CakeError('bad-archive') when the packages lack a loader, libc, faked-sysv or
 * libfakeroot-sysv.so.
 */
export async function prepareFakerootKit(debs: ReadonlyArray<{ path: string; sha256: string }>, cacheDir: string, signal?: AbortSignal): Promise<FakerootKit> {
  const parent = join(cacheDir, 'fakeroot');
  const final = join(parent, kitKey(debs.map((d) => d.sha256)));
  const ready = await readKit(final);
  if (ready !== undefined) return ready;
  const staging = join(parent, `.staging-${process.pid}.${randomBytes(4).toString('hex')}`);
  await mkdir(join(staging, 'root'), { recursive: true });
  try {
    // loaded only now: every exec reads a ready kit, only the first one unpacks it
    unpack = await import('./deb-unpack.js');
    await unpack.unpackDebs(debs.map((d) => d.path), join(staging, 'root'), signal);
    const layout = await findLayout(join(staging, 'root'));
    await writeFile(join(staging, 'kit.json'), JSON.stringify({ format: KIT_FORMAT, ...layout }, null, 1) + '\n');
    try {
      await rename(staging, final);
    } catch (err) {
      if (!isErrno(err, 'EEXIST') && !isErrno(err, 'ENOTEMPTY')) throw err;
      // another cake process finished first; its kit is the same by construction
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const kit = await readKit(final);
  if (kit === undefined) throw new CakeError('io', `the fakeroot kit in ${final} is incomplete`, { hint: `remove ${final} and try again` });
  return kit;
}

interface Layout {
  ldso: string;
  libDirs: string[];
  faked: string;
  libfakeroot: string;
  /** The glibc symbol versions libfakeroot-sysv.so references. */
  needs: string[];
}

async function readKit(dir: string): Promise<FakerootKit | undefined> {
  let m: Layout & { format: number };
  try {
    m = JSON.parse(await readFile(join(dir, 'kit.json'), 'utf8')) as Layout & { format: number };
  } catch {
    return undefined;
  }
  if (m.format !== KIT_FORMAT) return undefined;
  const at = (rel: string): string => join(dir, 'root', rel);
  return { dir, ldso: at(m.ldso), libraryPath: m.libDirs.map(at).join(':'), faked: at(m.faked), libDir: dirname(at(m.libfakeroot)), needs: m.needs };
}

/** Where the unpacked packages keep what the kit needs (regular files only: a symlink would be followed on the host). */
async function findLayout(root: string): Promise<Layout> {
  const libDirs: string[] = [];
  let ldso: string | undefined;
  let libfakeroot: string | undefined;
  for (const base of ['usr/lib', 'lib', 'usr/lib64', 'lib64']) {
    for (const dir of [base, ...(await subdirs(root, base))]) {
      const names = await readdir(join(root, dir)).catch(() => [] as string[]);
      if (await unpack.isFile(root, `${dir}/libc.so.6`)) {
        await unpack.dropEscapingLinks(join(root, dir));
        libDirs.push(dir);
      }
      for (const n of names) if (ldso === undefined && /^ld-linux[\w.-]*\.so\.\d+$/.test(n) && (await unpack.isFile(root, `${dir}/${n}`))) ldso = `${dir}/${n}`;
      if (libfakeroot === undefined && (await unpack.isFile(root, `${dir}/libfakeroot/libfakeroot-sysv.so`))) libfakeroot = `${dir}/libfakeroot/libfakeroot-sysv.so`;
    }
  }
  const faked = (await unpack.isFile(root, 'usr/bin/faked-sysv')) ? 'usr/bin/faked-sysv' : undefined;
  if (ldso === undefined || libDirs.length === 0 || faked === undefined || libfakeroot === undefined) {
    const missing = [ldso === undefined && 'a glibc loader', libDirs.length === 0 && 'libc.so.6', faked === undefined && 'faked-sysv', libfakeroot === undefined && 'libfakeroot-sysv.so'].filter(Boolean);
    throw new CakeError('bad-archive', `the fakeroot kit's packages lack ${missing.join(', ')}`, { hint: 'the env\'s fakeroot, libfakeroot and libc6 packages are unusual; run with CAKE_NO_FAKEROOT=1 and report this' });
  }
  return { ldso, libDirs, faked, libfakeroot, needs: glibcVersions(await readFile(join(root, libfakeroot))) };
}

async function subdirs(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) out.push(`${rel}/${e.name}`);
  return out;
}


