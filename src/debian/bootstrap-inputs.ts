/**
 * The first phase of a bootstrap (see bootstrap.ts): the verified indices of every suite, the
 * resolution, the essential set, the .debs (and the fakeroot kit's) in the blob store, and the
 * build key. Nothing is unpacked yet.
 */
import { CakeError } from '../model/errors.js';
import { ArchiveClient, toPackageIndex, type LoadedIndices } from './archive-client.js';
import type { BootstrapDeps, BootstrapInputs, BootstrapOptions, DebRef } from './bootstrap.js';
import { buildKey, essentialClosure, lockedResolution, withRequestedSuites } from './bootstrap-plan.js';
import { epochOfReleases } from './bootstrap-normalise.js';
import { defaultSnapshotBase, snapshotRoots } from './snapshot.js';
import type { PackageIndex, PackageRecord } from './package-index.js';
import { resolve, type Resolution, type Variant } from './resolver.js';

const MiB = 1024 * 1024;

/** Bumped whenever the same inputs would give a different tree (it is part of the build key). */
export const BOOTSTRAP_FORMAT = 3;

/** The first phase of a bootstrap (planBootstrap); bootstrapDebian carries on from it. */
export interface BootstrapPlan {
  inputs: BootstrapInputs;
  /** The (mirror, suite) pairs as given. */
  sources: Array<{ mirror: string; suite: string }>;
  loaded: LoadedIndices;
  index: PackageIndex;
  resolution: Resolution;
  essential: PackageRecord[];
  fakeroot: PackageRecord[];
  blobOf: (p: PackageRecord) => string;
}

/**
 * 1. Verified indices of every suite, the resolution, the essential set, the .debs (and the
 * fakeroot kit's) in the store, and the build key. Network: InRelease every time, indices and
 * .debs only when not in the store. Errors: see bootstrapDebian.
 */
export async function planBootstrap(deps: BootstrapDeps, o: BootstrapOptions): Promise<BootstrapPlan> {
  const sources = withRequestedSuites(o.suites.map((s) => (typeof s === 'string' ? { mirror: o.mirror, suite: s } : s)), o.packages);
  if (sources.length === 0) throw new CakeError('bad-source', 'an archive source needs at least one suite');
  const clients = clientsFor(deps, o, sources);
  const loaded: LoadedIndices = { releases: [], packagesText: [] };
  for (const c of clients) {
    const locked = o.locked;
    const alternates = locked ? (mirror: string) => snapshotRoots(locked.snapshotBase ?? defaultSnapshotBase(o.keyring), mirror, o.keyring, locked.pulledAt) : undefined;
    const l = await c.loadIndices({ ...(o.pinnedInRelease ? { pinnedInRelease: o.pinnedInRelease } : {}), ...(alternates ? { alternates } : {}) });
    loaded.releases.push(...l.releases);
    loaded.packagesText.push(...l.packagesText);
  }
  const index = toPackageIndex(loaded);
  const variant: Variant = o.variant === 'buildd' ? 'minbase' : o.variant;
  const install = o.variant === 'buildd' ? ['build-essential', ...o.packages] : [...o.packages];
  // cake merges /usr itself (as debootstrap does): usr-is-merged satisfies `usrmerge | usr-is-merged`
  // without usrmerge's conversion and the perl it needs
  if (!o.locked && index.candidate('usr-is-merged', o.arch) !== undefined && !install.some((t) => /^usrmerge\b/.test(t))) install.unshift('usr-is-merged');
  const resolution = o.locked ? lockedResolution(index, o.locked.debs, o.arch) : resolve(index, { install, variant, recommends: o.recommends, arch: o.arch });
  for (const note of resolution.notes) deps.logger.info(note);
  const essential = essentialClosure(resolution.packages, index, o.arch);
  if (!essential.some((p) => p.name === 'dpkg')) {
    throw new CakeError('resolver', 'the essential set has no dpkg: this archive cannot be bootstrapped', { hint: 'check the suites and components (main holds the essential set)' });
  }
  const fakeroot = ['libfakeroot', 'fakeroot'].map((n) => {
    const c = index.candidate(n, o.arch);
    if (c === undefined) throw new CakeError('not-found', `the archive has no ${n} package for ${o.arch}`, { hint: "cake runs the guest's own fakeroot to record ownership; add the component that holds it (main)" });
    return c;
  });
  // faked runs on the host for `cake exec` through this libc's own loader (src/kit/fakeroot.ts)
  const libc = resolution.packages.find((p) => p.name === 'libc6' && p.arch === o.arch) ?? index.candidate('libc6', o.arch);
  const kit = libc === undefined ? [] : [libc, ...fakeroot];
  const wanted = [...resolution.packages, ...fakeroot, ...(libc === undefined ? [] : [libc])];
  const missing = [...new Map(wanted.map((p) => [p.sha256, p])).values()].filter((p) => !deps.blobs.has(p.sha256));
  const missingBytes = missing.reduce((n, p) => n + p.size, 0);
  const kitOnly = new Set(wanted.map((p) => p.sha256)).size - new Set(resolution.packages.map((p) => p.sha256)).size;
  deps.logger.info(`resolved ${resolution.packages.length} packages${kitOnly > 0 ? ` (+${kitOnly} for cake's fakeroot kit)` : ''} (${(missingBytes / MiB).toFixed(1)} MiB to download)`);
  const started = Date.now();
  const blobPaths = await clients[0]!.fetchDebs(wanted, { concurrency: 8 });
  if (missing.length > 0) deps.logger.info(`downloaded ${missing.length} packages (${(missingBytes / MiB).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const downloadBytes = clients.reduce((n, c) => n + c.stats().bytes, 0);
  const ref = (p: PackageRecord): DebRef => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 });
  const sourceDateEpoch = o.sourceDateEpoch ?? epochOfReleases(loaded.releases.map((r) => r.date));
  const inReleaseSha256: Record<string, string> = {};
  for (const r of loaded.releases) inReleaseSha256[r.suite] = r.inReleaseSha256;
  const key = buildKey({
    format: BOOTSTRAP_FORMAT,
    sources: loaded.releases.map((r) => ({ mirror: r.mirror, suite: r.suite, inReleaseSha256: r.inReleaseSha256 })),
    components: o.components,
    arch: o.arch,
    keyring: o.keyring,
    variant: o.variant,
    packages: o.packages,
    recommends: o.recommends,
    debs: resolution.packages.map((p) => p.sha256),
    fakeroot: fakeroot.map((p) => p.sha256),
    sourceDateEpoch,
  });
  const inputs: BootstrapInputs = {
    packages: resolution.packages.length,
    downloadBytes,
    inReleaseSha256,
    sources: loaded.releases.map((r) => ({ mirror: r.mirror, suite: r.suite, ...(r.date ? { date: r.date } : {}) })),
    debs: resolution.packages.map(ref),
    fakerootKit: kit.map(ref),
    buildKey: key,
    sourceDateEpoch,
  };
  return { inputs, sources: [...sources], loaded, index, resolution, essential, fakeroot, blobOf: (p) => blobPaths.get(p.sha256)! };
}

/** One archive client per mirror (suites of a mirror together), in the order the suites were given. */
function clientsFor(deps: BootstrapDeps, o: BootstrapOptions, sources: ReadonlyArray<{ mirror: string; suite: string }>): ArchiveClient[] {
  const byMirror = new Map<string, string[]>();
  for (const s of sources) {
    const list = byMirror.get(s.mirror) ?? [];
    list.push(s.suite);
    byMirror.set(s.mirror, list);
  }
  const archiveDeps = {
    http: deps.http,
    blobs: deps.blobs,
    paths: deps.paths,
    logger: deps.logger,
    ...(deps.signal ? { signal: deps.signal } : {}),
    ...(deps.keyringDir ? { keyringDir: deps.keyringDir } : {}),
  };
  return [...byMirror].map(([mirror, suites]) => new ArchiveClient(archiveDeps, { mirror, suites, components: o.components, arch: o.arch, keyring: o.keyring, ...(o.allowExpired ? { checkValidUntil: false } : {}) }));
}
