/**
 * The fakeroot kit of an env that has none of its own (a registry image, an OCI layout, a
 * tarball, an import, a cooked env): Debian STANDARD_KIT_RELEASE's libc6, libfakeroot and
 * fakeroot, resolved from the signed archive (remembered for a day, see archive-fetch.ts) and
 * kept in the blob store. Chosen for its libfakeroot's modest glibc needs (2.34: Debian 12+,
 * Ubuntu 22.04+, Fedora 35+, current Arch, openSUSE Tumbleweed and Void glibc); an older guest
 * glibc runs unrecorded, with a warning (run/guest-libc.ts says why).
 */
import type { KitDeb } from './kit-deb.js';
import type { KitDeps } from './archive-fetch.js';
import { kitDebs } from './kit-deb.js';
import { prepareFakerootKit, type FakerootKit } from './fakeroot.js';

export const STANDARD_KIT_RELEASE = 'bookworm';
const PACKAGES = ['libc6', 'libfakeroot', 'fakeroot'];

/** An env's kit and the .debs it is made of; `recorded` is false for a standard kit new to the env. */
export interface EnvKit {
  kit: FakerootKit;
  debs: KitDeb[];
  recorded: boolean;
}

/** The standard kit's .debs for a host of `machine` (distro arch name), fetched into the store. */
export async function standardKitDebs(deps: KitDeps, machine: string): Promise<Array<KitDeb & { path: string }>> {
  // loaded only now: the archive client is not needed by an exec whose env has its kit
  const { fetchKit } = await import('./archive-fetch.js');
  const got = await fetchKit(deps, STANDARD_KIT_RELEASE, PACKAGES.map((name) => ({ name })), machine);
  return PACKAGES.map((n) => got.get(n)!);
}

/**
 * The kit of an env whose `resolved` is given: the one recorded there when its .debs are in the
 * store, else the standard kit (fetched when needed). Unpacked under `<cacheDir>/fakeroot/`.
 */
export async function envFakerootKit(deps: KitDeps & { cacheDir: string }, resolved: Record<string, unknown>, machine: string): Promise<EnvKit> {
  const own = kitDebs(resolved);
  if (own !== undefined && own.every((d) => deps.blobs.has(d.sha256))) {
    const kit = await prepareFakerootKit(own.map((d) => ({ sha256: d.sha256, path: deps.blobs.path(d.sha256) })), deps.cacheDir, deps.signal);
    return { kit, debs: own, recorded: true };
  }
  const debs = await standardKitDebs(deps, machine);
  const kit = await prepareFakerootKit(debs, deps.cacheDir, deps.signal);
  return { kit, debs: debs.map(({ path: _p, ...d }) => d), recorded: own !== undefined && sameDebs(own, debs) };
}

function sameDebs(a: readonly KitDeb[], b: readonly KitDeb[]): boolean {
  return a.length === b.length && a.every((d) => b.some((e) => e.sha256 === d.sha256));
}
