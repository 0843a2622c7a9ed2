import { hashFileSync } from '../store/tree-hash.js';
import { basename, resolve } from 'node:path';
import { CakeError, OptionError } from '../model/errors.js';
import { defaultEnvName, validateEnvName } from '../model/names.js';
import { parseSha256 } from '../model/digest.js';
import type { Source } from '../model/source.js';
import { findRelease, selectSources, type SelectedSource } from '../model/distro.js';
import { loadDistros } from '../store/distros.js';
import { resolveArchiveAlias } from './release-alias.js';
import { sealKept, sealingEnvs, type TreeHasher } from './tree-seal.js';
import type { PullLock } from './pull-lock.js';
import type { DistroArch } from '../model/platform.js';
import { hostPlatform, toDistroArch, formatPlatform, type Platform } from '../model/platform.js';
import type { EnvRecord } from '../store/env-record.js';
import type { SourceDeps } from './deps.js';
import { fetchToStore } from './fetch.js';
import { installTarball } from './tarball.js';
import { pullImage, type RegistryOptions } from './registry.js';
import { pullFromArchive } from './archive.js';
import { LOCAL_FILE_FORMS, probeLocalFile, pullImageArchive } from './image-archive.js';
import type { BootstrapVariant } from '../debian/bootstrap.js';
import { imageBaseName, parseReference } from '../oci/reference.js';

export interface PullRequest {
  source: Source;
  /** The SOURCE text as typed (recorded in env.json). */
  ref: string;
  name?: string;
  sha256?: string;
  force?: boolean;
  /** Default: the host's. */
  platform?: Platform;
  /** Registry images: the environment credentials are read from, and --insecure. */
  registry?: RegistryOptions;
  /** Debian/Ubuntu archive sources: extra packages (`--packages`), `--variant`, `--recommends`. */
  packages?: string[];
  variant?: BootstrapVariant;
  recommends?: boolean;
  /** Archive sources: accept a Release past its Valid-Until, with a warning (`--allow-expired`). */
  allowExpired?: boolean;
  /** Hash the staged tree and record env.json's `treeSha256` (tree-seal.ts); absent: no hash. */
  treeHash?: TreeHasher;
  /** With treeHash: the hash the tree must have (`--expect-sha256`); a mismatch installs nothing. */
  expectTreeSha256?: string;
  /** SOURCE_DATE_EPOCH for archive builds (default: the newest Release Date they read). */
  sourceDateEpoch?: number;
  /**
   * Rebuild exactly what a lock pins (`--locked`): its suites, keyring, packages and times, the
   * tree hash checked; `snapshotBase` is the snapshot service for a mirror that moved on.
   */
  locked?: { lock: PullLock; snapshotBase?: string };
}

export interface PullOutcome {
  record: EnvRecord;
  /** The env already held exactly this source; nothing was changed. */
  upToDate: boolean;
  /** sha256 of what was installed, for pinning. */
  sha256: string | undefined;
  /** The source was a URL without a pin. */
  unpinned: boolean;
}

/** The default env name for a source: the distro (`debian`, `debian-bookworm`), or the file's name. */
export function defaultNameFor(source: Source): string {
  switch (source.kind) {
    case 'distro':
      return defaultEnvName(source.release ? `${source.distro}-${source.release}` : source.distro);
    case 'file':
      return defaultEnvName(basename(source.path));
    case 'url':
      return defaultEnvName(basename(new URL(source.url).pathname) || new URL(source.url).hostname);
    case 'registry':
      return defaultEnvName(imageBaseName(parseReference(source.ref)));
    case 'oci-layout':
      return defaultEnvName(source.tag ?? basename(resolve(source.dir)));
    default:
      return defaultEnvName((source as Source).kind);
  }
}

/**
 * Turns a SOURCE into an environment: a distro definition (archive, registry or tarball source),
 * a registry image, an OCI layout, an http(s) tarball or a local tarball. With `treeHash`, the
 * env's tree hash is recorded (and checked against `expectTreeSha256`) before it is committed.
 */
export async function pull(deps: SourceDeps, req: PullRequest): Promise<PullOutcome> {
  if (req.treeHash === undefined) return pullSource(deps, req);
  const out = await pullSource({ ...deps, envs: sealingEnvs(deps.envs, req.treeHash, req.expectTreeSha256, { signal: deps.signal, logger: deps.logger }) }, req);
  return { ...out, record: await sealKept(deps.envs, out.record, req.treeHash, req.expectTreeSha256, { signal: deps.signal, logger: deps.logger }) };
}

async function pullSource(deps: SourceDeps, req: PullRequest): Promise<PullOutcome> {
  const name = validateEnvName(req.name ?? defaultNameFor(req.source));
  const platform = req.platform ?? hostPlatform(deps.hostArch);
  const arch = toDistroArch(platform);
  if (!arch) throw new CakeError('usage', `no distro architecture for platform ${formatPlatform(platform)}`, { exitCode: 2, hint: 'use linux/amd64, linux/arm64, linux/arm/v7, linux/386, linux/riscv64, ...' });
  const sourceRec = { kind: req.source.kind, ref: req.ref };
  let reused = false;
  // Pulling the same source into the same name again is a no-op (so concurrent pulls both succeed).
  const reuseIf = (digest: string | undefined) =>
    req.force || !digest
      ? undefined
      : (existing: EnvRecord) => (reused = existing.resolved.sha256 === digest && existing.source.ref === req.ref);
  const src = req.source;
  if (src.kind === 'file') {
    const file = resolve(src.path);
    const probe = await probeLocalFile(file);
    if (probe.kind === 'other') {
      throw new CakeError('bad-source', `${src.path} is neither a root filesystem tarball nor an image archive: it is ${probe.found}`, { hint: LOCAL_FILE_FORMS });
    }
    if (probe.kind === 'rootfs' && src.imageRef !== undefined) {
      throw new CakeError('bad-source', `${src.path} is a root filesystem tarball, not an image archive: it has no image ${JSON.stringify(src.imageRef)}`, { exitCode: 2, hint: `pull it as ${src.path} (without :${src.imageRef})` });
    }
    if (probe.kind !== 'rootfs') {
      // podman save / docker save: the image the archive holds (the one REF names)
      const out = await pullImageArchive(deps, {
        kind: probe.kind,
        file,
        ...(src.imageRef !== undefined ? { imageRef: src.imageRef } : {}),
        source: sourceRec,
        name,
        platform,
        platformExplicit: req.platform !== undefined,
        ...(req.force ? { force: true } : {}),
      });
      return { record: out.record, upToDate: out.upToDate, sha256: out.digest.slice('sha256:'.length), unpinned: false };
    }
    const expected = req.sha256 ? parseSha256(req.sha256) : undefined;
    // The same file (same content) pulled into the same name again is a no-op, as for URLs; the
    // file is hashed only when such an env exists.
    let fileSha: string | undefined;
    const reuse = (existing: EnvRecord): boolean => {
      if (existing.source.ref !== req.ref || existing.resolved.file !== file || typeof existing.resolved.sha256 !== 'string') return false;
      try {
        fileSha ??= hashFileSync(file);
      } catch {
        return false; // unreadable now: the install reports it
      }
      return (reused = existing.resolved.sha256 === fileSha && (expected === undefined || expected === fileSha));
    };
    const record = await installTarball(deps, {
      name,
      file,
      ...(expected ? { expectedSha256: expected } : {}),
      ...(req.force ? { force: true } : { reuse }),
      arch,
      source: sourceRec,
      resolved: { file },
    });
    return { record, upToDate: reused, sha256: record.resolved.sha256 as string, unpinned: false };
  }
  if (src.kind === 'registry' || src.kind === 'oci-layout') {
    const image = src.kind === 'registry' ? { kind: src.kind, ref: src.ref } : { kind: src.kind, dir: src.dir, ...(src.tag !== undefined ? { tag: src.tag } : {}) };
    const out = await pullImage(deps, { image, source: sourceRec, name, platform, platformExplicit: req.platform !== undefined, ...(req.force ? { force: true } : {}), ...(req.registry ? { registry: req.registry } : {}) });
    return { record: out.record, upToDate: out.upToDate, sha256: out.digest.slice('sha256:'.length), unpinned: false };
  }
  let url: string;
  let sha256: string | undefined;
  if (src.kind === 'url') {
    url = src.url;
    sha256 = req.sha256 ? parseSha256(req.sha256) : src.sha256;
    if (req.sha256 && src.sha256 && parseSha256(req.sha256) !== src.sha256) {
      throw new OptionError(['sha256'], `{sha256} ${req.sha256} and the URL's #sha256=${src.sha256} disagree`, 'give the pin once');
    }
  } else if (src.kind === 'distro' && req.locked) {
    const { lock, snapshotBase } = req.locked;
    const archive = { kind: 'archive' as const, arch: lock.arch as DistroArch, debianArch: lock.debianArch, keyring: lock.keyring, variant: 'minbase' as const, components: lock.components, suites: lock.suites.map((s) => ({ mirror: s.mirror, suite: s.suite })) };
    const out = await pullFromArchive(deps, {
      name,
      source: sourceRec,
      archive,
      resolved: { distro: lock.distro, release: lock.release },
      packages: lock.packages,
      variant: lock.variant,
      recommends: lock.recommends,
      sourceDateEpoch: lock.sourceDateEpoch,
      locked: { inReleaseSha256: Object.fromEntries(lock.suites.map((s) => [s.suite, s.inReleaseSha256])), debs: lock.debs, pulledAt: lock.pulledAt, ...(snapshotBase ? { snapshotBase } : {}) },
      ...(req.allowExpired ? { allowExpired: true } : {}),
      ...(req.force ? { force: true } : {}),
    });
    return { record: out.record, upToDate: out.upToDate, sha256: undefined, unpinned: false };
  } else if (src.kind === 'distro') {
    if (req.sha256) throw new OptionError(['sha256'], '{sha256} applies to URLs and files; distro definitions are pinned already');
    const defs = await loadDistros(deps.distrosDir);
    // `debian:stable`, `ubuntu:lts`: the release the archive names today (archive-aliases)
    const named = findRelease(defs, src.distro).distro;
    const releaseName = src.release === undefined ? undefined : ((await resolveArchiveAlias(deps, named, src.release, arch)) ?? src.release);
    const { distro, release } = findRelease(defs, src.distro, releaseName);
    const archiveOnly = Boolean(req.packages?.length || req.variant || req.recommends);
    const all = selectSources(release, arch, ['archive', 'tarball', 'registry']);
    const sources = archiveOnly ? all.filter((c) => c.kind === 'archive') : all;
    if (sources.length === 0) {
      throw new OptionError(['packages', 'variant', 'recommends'], `{packages}, {variant} and {recommends} apply to Debian/Ubuntu archive sources; ${distro.name} ${release.name} is pulled as a ${all[0]?.kind ?? 'tarball'}`);
    }
    const resolvedDistro = { distro: distro.name, release: release.name };
    // Every source for the arch, in the definition's order: the next one only when a host cannot be reached or answers an error.
    const failures: string[] = [];
    for (const [i, chosen] of sources.entries()) {
      try {
        if (chosen.kind === 'archive') {
          const archive = withMirror(chosen, deps.archiveMirrors?.[distro.name]);
          const out = await pullFromArchive(deps, {
            name,
            source: sourceRec,
            archive,
            resolved: resolvedDistro,
            ...(req.packages ? { packages: req.packages } : {}),
            ...(req.variant ? { variant: req.variant } : {}),
            ...(req.recommends !== undefined ? { recommends: req.recommends } : {}),
            ...(req.allowExpired ? { allowExpired: true } : {}),
            ...(req.sourceDateEpoch !== undefined ? { sourceDateEpoch: req.sourceDateEpoch } : {}),
            ...(req.force ? { force: true } : {}),
          });
          return { record: out.record, upToDate: out.upToDate, sha256: undefined, unpinned: false };
        }
        if (chosen.kind === 'registry') {
          const out = await pullImage(deps, { image: { kind: 'registry', ref: chosen.image }, source: sourceRec, name, platform, platformExplicit: req.platform !== undefined, ...(req.force ? { force: true } : {}), ...(req.registry ? { registry: req.registry } : {}), resolved: resolvedDistro });
          return { record: out.record, upToDate: out.upToDate, sha256: out.digest.slice('sha256:'.length), unpinned: false };
        }
        return await installFromUrl(deps, req, { name, arch, sourceRec, reuseIf, isReused: () => reused }, { url: chosen.url, sha256: chosen.sha256, strip: chosen.strip }, resolvedDistro);
      } catch (err) {
        const unreachable = err instanceof CakeError && (err.code === 'network' || err.code === 'http');
        if (!unreachable) throw err;
        const label = sourceLabel(chosen.kind === 'archive' ? withMirror(chosen, deps.archiveMirrors?.[distro.name]) : chosen);
        const hint = mirrorHint(distro.name, [`${label}:`]);
        if (sources.length === 1) throw hint === undefined ? err : new CakeError(err.code, err.message, { hint, cause: err });
        failures.push(`${label}: ${err.message}`);
        if (i < sources.length - 1) deps.logger.warn(`${err.message}; trying the next source`);
      }
    }
    throw new CakeError('network', `no source of ${distro.name}:${release.name} for ${arch} could be pulled:\n  ${failures.join('\n  ')}`, {
      hint: mirrorHint(distro.name, failures) ?? 'check the network (or HTTPS_PROXY); `cake distros` lists the sources of each release',
    });
  } else {
    throw new CakeError('bad-source', `pulling ${(src as Source).kind} sources is not supported yet: ${req.ref}`, {
      exitCode: 1,
      hint: 'use a distro (`cake distros`), an https:// tarball URL or a local tarball',
    });
  }
  return installFromUrl(deps, req, { name, arch, sourceRec, reuseIf, isReused: () => reused }, { url, sha256, strip: 0 }, {});
}

interface UrlContext {
  name: string;
  arch: DistroArch;
  sourceRec: { kind: string; ref: string };
  reuseIf: (digest: string | undefined) => ((existing: EnvRecord) => boolean) | undefined;
  isReused: () => boolean;
}

/** Downloads a (pinned or unpinned) tarball into the store and installs it as env `c.name`. */
async function installFromUrl(deps: SourceDeps, req: PullRequest, c: UrlContext, pin: { url: string; sha256: string | undefined; strip: number }, resolved: Record<string, unknown>): Promise<PullOutcome> {
  const { name, arch, sourceRec } = c;
  const { url, strip } = pin;
  const sha256 = pin.sha256 || undefined;
  if (sha256 && deps.envs.exists(name) && !req.force) {
    const existing = deps.envs.get(name);
    if (existing.resolved.sha256 === sha256 && existing.source.ref === req.ref) {
      return { record: existing, upToDate: true, sha256, unpinned: false };
    }
  }
  const blob = await fetchToStore(deps, url, sha256, `downloading ${name}`);
  const reuse = c.reuseIf(blob.sha256);
  const record = await installTarball(deps, {
    name,
    file: blob.path,
    strip,
    ...(req.force ? { force: true } : {}),
    ...(reuse ? { reuse } : {}),
    arch,
    source: sourceRec,
    resolved: { ...resolved, url, blobs: [blob.sha256] },
  });
  return { record, upToDate: c.isReused(), sha256: blob.sha256, unpinned: !sha256 };
}

/** "tarball https://…", "registry docker.io/…", "archive http://deb.debian.org/debian": for the error listing every source. */
/** The user's mirror (`debian-mirror`/`ubuntu-mirror`) in place of the release's main archive; the others (security) stay. */
function withMirror<T extends Extract<SelectedSource, { kind: 'archive' }>>(chosen: T, mirror: string | undefined): T {
  if (!mirror) return chosen;
  const main = chosen.suites[0]?.mirror;
  return { ...chosen, suites: chosen.suites.map((s) => (s.mirror === main ? { ...s, mirror: mirror.replace(/\/+$/, '') } : s)) };
}

function sourceLabel(s: SelectedSource): string {
  return s.kind === 'tarball' ? `tarball ${s.url}` : s.kind === 'registry' ? `registry ${s.image}` : `archive ${s.suites[0]?.mirror ?? ''}`;
}

/** When an archive mirror did not answer: the setting that replaces it (`debian-mirror`, `ubuntu-mirror`). Pure. */
function mirrorHint(distro: string, failures: readonly string[]): string | undefined {
  if (distro !== 'debian' && distro !== 'ubuntu') return undefined;
  const mirror = failures.map((f) => /^archive (\S+):/.exec(f)?.[1]).find((m) => m !== undefined);
  if (mirror === undefined) return undefined;
  return `the mirror ${mirror} does not answer from here: set CAKE_${distro.toUpperCase()}_MIRROR=URL (or \`cake config set ${distro}-mirror URL\`) to a mirror of it that does`;
}
