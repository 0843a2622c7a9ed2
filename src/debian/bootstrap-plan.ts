/**
 * Which packages go into which dpkg run of a bootstrap: the essential set first (extracted by cake,
 * then installed by one `dpkg --install --force-depends`, as mmdebstrap does), then the rest in as
 * few `dpkg --install` runs as Pre-Depends allow; the build key of a bootstrap. Pure, no I/O.
 */
import { createHash } from 'node:crypto';
import { CakeError } from '../model/errors.js';
import type { PackageIndex, PackageRecord } from './package-index.js';
import { resolve, type Resolution } from './resolver.js';

/** The unique identity of a record inside one index. */
export function recordKey(p: Pick<PackageRecord, 'name' | 'version' | 'arch'>): string {
  return `${p.name} ${p.version} ${p.arch}`;
}

/**
 * The records of `selected` that the Essential: yes packages among them need, directly or through
 * Depends and Pre-Depends (every selected alternative of a group counts). `satisfying` is the
 * index lookup (PackageIndex.satisfying).
 */
export function essentialClosure(
  selected: readonly PackageRecord[],
  index: Pick<PackageIndex, 'satisfying'>,
  nativeArch: string,
): PackageRecord[] {
  const inSet = new Map(selected.map((p) => [recordKey(p), p]));
  const out = new Map<string, PackageRecord>();
  const stack = selected.filter((p) => p.essential);
  while (stack.length > 0) {
    const p = stack.pop()!;
    const k = recordKey(p);
    if (out.has(k)) continue;
    out.set(k, p);
    for (const group of [...p.preDepends, ...p.depends]) {
      for (const rel of group) {
        for (const s of index.satisfying(rel, { native: nativeArch, fromArch: p.arch })) {
          const chosen = inSet.get(recordKey(s));
          if (chosen !== undefined && !out.has(recordKey(chosen))) stack.push(chosen);
        }
      }
    }
  }
  return selected.filter((p) => out.has(recordKey(p)));
}

/**
 * Merges consecutive install batches (the resolver's `order`, dependencies first) into dpkg runs:
 * a batch joins the current run unless one of its packages Pre-Depends on a package of that run
 * (a Pre-Depends must be configured before its dependant is unpacked, and dpkg configures only at
 * the end of a run). `preDependsOn(p)` lists the selected records p Pre-Depends on.
 */
export function groupRuns(batches: readonly (readonly PackageRecord[])[], preDependsOn: (p: PackageRecord) => readonly PackageRecord[]): PackageRecord[][] {
  const runs: PackageRecord[][] = [];
  let current: PackageRecord[] = [];
  let keys = new Set<string>();
  for (const batch of batches) {
    if (batch.length === 0) continue;
    const blocked = batch.some((p) => preDependsOn(p).some((d) => keys.has(recordKey(d))));
    if (blocked && current.length > 0) {
      runs.push(current);
      current = [];
      keys = new Set();
    }
    for (const p of batch) {
      current.push(p);
      keys.add(recordKey(p));
    }
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** The selected records `p` Pre-Depends on (any selected alternative). */
export function selectedPreDepends(
  p: PackageRecord,
  selected: ReadonlyMap<string, PackageRecord>,
  index: Pick<PackageIndex, 'satisfying'>,
  nativeArch: string,
): PackageRecord[] {
  const out: PackageRecord[] = [];
  for (const group of p.preDepends) {
    for (const rel of group) {
      for (const s of index.satisfying(rel, { native: nativeArch, fromArch: p.arch })) {
        const chosen = selected.get(recordKey(s));
        if (chosen !== undefined && chosen !== p) out.push(chosen);
      }
    }
  }
  return out;
}

/** apt's archive file name for a package: `name_version_arch.deb`, the epoch's `:` as `%3a`. Pure. */
export function debFileName(p: Pick<PackageRecord, 'name' | 'version' | 'arch'>): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
}

/**
 * The essential set in the order given to `dpkg --install`: base-passwd first (its preinst creates
 * /etc/passwd and /etc/group, which dpkg needs to map owner names of the packages after it), then
 * the batches' order (dependencies first). Pure.
 */
export function essentialInstallOrder(essential: readonly PackageRecord[], batches: readonly (readonly PackageRecord[])[]): PackageRecord[] {
  const want = new Set(essential.map(recordKey));
  const ordered: PackageRecord[] = [];
  const seen = new Set<string>();
  const push = (p: PackageRecord): void => {
    const k = recordKey(p);
    if (!want.has(k) || seen.has(k)) return;
    seen.add(k);
    ordered.push(p);
  };
  for (const p of essential) if (p.name === 'base-passwd') push(p);
  for (const b of batches) for (const p of b) push(p);
  for (const p of essential) push(p);
  return ordered;
}

/** Everything a bootstrap's finished tree depends on (see buildKey). */
export interface BuildInputs {
  /** cake's bootstrap format: bumped whenever the same inputs would give another tree. */
  format: number;
  /** (mirror, suite) pairs with the sha256 of the InRelease read for each. */
  sources: ReadonlyArray<{ mirror: string; suite: string; inReleaseSha256: string }>;
  components: readonly string[];
  arch: string;
  keyring: unknown;
  variant: string;
  /** As requested (NAME, NAME=VERSION, NAME:ARCH). */
  packages: readonly string[];
  recommends: boolean;
  /** The .deb digests installed, and those of the fakeroot that recorded ownership. */
  debs: readonly string[];
  fakeroot: readonly string[];
  /** The SOURCE_DATE_EPOCH the tree's times are clamped to. */
  sourceDateEpoch: number;
}

/**
 * The build key of a bootstrap: sha256 over all its inputs. Two builds with the same key produce
 * the same tree (modulo timestamps), so a finished tree stored under it may stand in for a build.
 * The InRelease digests pin every index, hence the resolution; the .deb digests are listed anyway. Pure.
 */
export function buildKey(i: BuildInputs): string {
  const canonical = JSON.stringify({
    format: i.format,
    sources: i.sources.map((s) => [s.mirror.replace(/\/+$/, ''), s.suite, s.inReleaseSha256]),
    components: i.components,
    arch: i.arch,
    keyring: i.keyring,
    variant: i.variant,
    packages: i.packages,
    recommends: i.recommends,
    debs: [...i.debs].sort(),
    fakeroot: [...i.fakeroot].sort(),
    sourceDateEpoch: i.sourceDateEpoch,
  });
  return createHash('sha256').update(`cake-bootstrap\n${canonical}`).digest('hex');
}

/** The resolution of a lock's exact package set: every package pinned by version, then checked digest by digest. */
export function lockedResolution(index: PackageIndex, debs: ReadonlyArray<Pick<PackageRecord, 'name' | 'version' | 'arch' | 'sha256'>>, arch: string): Resolution {
  const resolution = resolve(index, { install: debs.map((d) => `${d.name}:${d.arch}=${d.version}`), variant: 'none', recommends: false, arch });
  const want = new Set(debs.map((d) => d.sha256));
  const got = new Set(resolution.packages.map((p) => p.sha256));
  const extra = resolution.packages.filter((p) => !want.has(p.sha256)).map((p) => `${p.name} ${p.version}`);
  const missing = debs.filter((d) => !got.has(d.sha256)).map((d) => `${d.name} ${d.version}`);
  if (extra.length > 0 || missing.length > 0) {
    throw new CakeError('digest-mismatch', `the locked package set cannot be rebuilt from the pinned archive: ${[...missing.map((m) => `${m} differs`), ...extra.map((e) => `${e} is needed too`)].slice(0, 8).join('; ')}`, {
      hint: 'the lock file was edited or written by another cake; write it again with `cake pull … --lock FILE`',
    });
  }
  return resolution;
}

/** The suites plus those `NAME/SUITE` requests name (e.g. bookworm-backports), on the release's own mirror. */
export function withRequestedSuites(sources: Array<{ mirror: string; suite: string }>, packages: readonly string[]): Array<{ mirror: string; suite: string }> {
  const out = [...sources];
  for (const p of packages) {
    const suite = /\/([A-Za-z0-9][A-Za-z0-9.+-]*)$/.exec(p)?.[1];
    if (suite !== undefined && out[0] !== undefined && !out.some((s) => s.suite === suite)) out.push({ mirror: out[0].mirror, suite });
  }
  return out;
}
