/**
 * Release aliases that follow the archive (a distro definition's `archive-aliases`, see
 * src/model/distro.ts): `debian:stable` is whatever release dists/stable/InRelease names in its
 * Codename today, `ubuntu:lts` the newest release of the definition whose InRelease says
 * Version: YY.04 with YY even (Ubuntu's LTS rule). The InRelease files are verified like any other
 * (signature and suite; not Valid-Until: only the name is read here, the build judges freshness)
 * and cached, so an alias still resolves offline, with a warning, from the copy seen last.
 */
import { loadInRelease, type LoadedRelease } from '../debian/inrelease-load.js';
import { keyringLabel, loadKeyring } from '../debian/keyrings.js';
import { normalizeMirror } from '../debian/mirror-url.js';
import { compareVersions } from '../debian/version.js';
import { CakeError } from '../model/errors.js';
import { isArchiveAlias, type ArchiveSourceDef, type DistroDef } from '../model/distro.js';
import type { DistroArch } from '../model/platform.js';
import type { SourceDeps } from './deps.js';

/** The first suite of the first archive source of `releaseName` that serves `arch`: where its InRelease lives. */
function firstSuite(distro: DistroDef, releaseName: string, arch: DistroArch): { mirror: string; suite: string; keyring: ArchiveSourceDef['keyring'] } | undefined {
  const rel = distro.releases.find((r) => r.name === releaseName);
  for (const s of rel?.sources ?? []) {
    if (s.kind !== 'archive' || !s.arch.includes(arch)) continue;
    const repo = s.repos[0];
    const mirror = repo?.mirror[arch];
    if (repo !== undefined && mirror !== undefined && repo.suites[0] !== undefined) return { mirror, suite: repo.suites[0], keyring: s.keyring };
  }
  return undefined;
}

/** One verified InRelease; from the cache (with a warning) when the network fails; undefined on a 404. */
async function readRelease(deps: SourceDeps, at: { mirror: string; suite: string; keyring: ArchiveSourceDef['keyring'] }): Promise<LoadedRelease | undefined> {
  const ctx = {
    http: await deps.http(),
    blobs: deps.blobs,
    paths: deps.paths,
    logger: deps.logger,
    signal: deps.signal,
    now: new Date(),
    keys: () => loadKeyring(at.keyring),
    keyringLabel: keyringLabel(at.keyring),
    snapshot: false,
    checkValidUntil: false,
    warnExpired: false,
    stats: { inReleaseFetched: 0, bytes: 0 },
  };
  deps.blobs.init();
  const req = { mirror: normalizeMirror(at.mirror), suite: at.suite, offline: false };
  try {
    return (await loadInRelease(ctx, req)).loaded;
  } catch (err) {
    if (err instanceof CakeError && err.code === 'http' && / 404\b/.test(err.message)) return undefined;
    if (!(err instanceof CakeError) || err.code !== 'network') throw err;
    try {
      const cached = (await loadInRelease(ctx, { ...req, offline: true })).loaded;
      deps.logger.warn(`${err.message}; using the copy of ${at.suite}'s InRelease seen last`);
      return cached;
    } catch {
      throw err;
    }
  }
}

/**
 * The release name `release` stands for when it is an archive alias of `distro` (undefined when
 * it is not one). Network: one InRelease per suite alias; for `lts`, one per archive release of
 * the definition. Throws CakeError('not-found') when the archive names a release the definition
 * lacks (the hint says which), network and signature errors from the archive.
 */
export async function resolveArchiveAlias(deps: SourceDeps, distro: DistroDef, release: string, arch: DistroArch): Promise<string | undefined> {
  const aliases = distro.archiveAliases;
  if (aliases === undefined || !isArchiveAlias(distro, release)) return undefined;
  if (aliases.suites.includes(release)) {
    const base = firstSuite(distro, distro.default, arch) ?? distro.releases.map((r) => firstSuite(distro, r.name, arch)).find((x) => x !== undefined);
    if (base === undefined) throw new CakeError('not-found', `${distro.name} has no archive source for ${arch} to read ${release} from`, { hint: 'name a release instead; see `cake distros`' });
    const loaded = await readRelease(deps, { ...base, suite: release });
    const codename = loaded?.codename;
    if (loaded === undefined || codename === undefined) throw new CakeError('not-found', `${distro.name}'s archive has no suite ${release} (or its Release names no Codename) at ${base.mirror}`, { hint: 'name a release instead; see `cake distros`' });
    if (!distro.releases.some((r) => r.name === codename)) {
      throw new CakeError('not-found', `${distro.name}'s ${release} is ${codename} today (its InRelease says so), which this cake's definitions do not know`, {
        hint: `name a known release (${distro.releases.map((r) => r.name).join(', ')}) or update cake's distros/${distro.name}.yaml`,
      });
    }
    deps.logger.info(`${distro.name}:${release} is ${codename} (${loaded.version ? `${loaded.version}, ` : ''}from the archive's Release file)`);
    return codename;
  }
  let best: { name: string; version: string } | undefined;
  for (const r of distro.releases) {
    const at = firstSuite(distro, r.name, arch);
    if (at === undefined) continue;
    const version = (await readRelease(deps, at))?.version;
    const m = version === undefined ? null : /^(\d+)\.04(\.\d+)*$/.exec(version);
    if (version === undefined || m === null || Number(m[1]) % 2 !== 0) continue;
    if (best === undefined || compareVersions(version, best.version) > 0) best = { name: r.name, version };
  }
  if (best === undefined) throw new CakeError('not-found', `no LTS release of ${distro.name} found in the archive`, { hint: 'name a release instead; see `cake distros`' });
  deps.logger.info(`${distro.name}:${release} is ${best.name} (${best.version}, the newest LTS the archive serves)`);
  return best.name;
}
