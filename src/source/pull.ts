import { basename, resolve } from 'node:path';
import { CakeError } from '../model/errors.js';
import { defaultEnvName, validateEnvName } from '../model/names.js';
import { parseSha256 } from '../model/digest.js';
import type { Source } from '../model/source.js';
import { findRelease, loadDistros, selectSource, type SourceDef } from '../model/distro.js';
import type { DistroArch } from '../model/platform.js';
import { hostPlatform, toDistroArch, formatPlatform, type Platform } from '../model/platform.js';
import type { EnvRecord } from '../store/env-record.js';
import type { SourceDeps } from './deps.js';
import { fetchToStore } from './fetch.js';
import { installTarball } from './tarball.js';
import { pullImage, type RegistryOptions } from './registry.js';
import { pullFromArchive } from './archive.js';
import { classifyMembers, firstMemberNames, withUnpackedLayout } from './image-archive.js';
import type { BootstrapVariant } from '../debian/bootstrap.js';
import { imageBaseName, parseReference } from '../oci/reference.js';

function tarballCandidates(sources: readonly SourceDef[], arch: DistroArch): { url: string; sha256: string; strip: number }[] {
  const out: { url: string; sha256: string; strip: number }[] = [];
  for (const s of sources) {
    const pin = s.kind === 'tarball' ? s.arch[arch] : undefined;
    if (s.kind === 'tarball' && pin) out.push({ url: pin.url, sha256: pin.sha256, strip: s.strip });
  }
  return out;
}

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
 * Turns a SOURCE into an environment. Supported here: distro definitions with a tarball source,
 * http(s) tarballs and local tarballs. Other kinds give a clear error naming what is missing.
 */
export async function pull(deps: SourceDeps, req: PullRequest): Promise<PullOutcome> {
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
    const image = classifyMembers(await firstMemberNames(file));
    if (image === 'oci-archive') {
      // podman save --format oci-archive: an OCI layout in a tar
      deps.blobs.init();
      const out = await withUnpackedLayout(file, deps.paths.tmp, deps.signal, (dir) =>
        pullImage(deps, { image: { kind: 'oci-layout', dir }, source: sourceRec, name, platform, platformExplicit: req.platform !== undefined, ...(req.force ? { force: true } : {}), resolved: { file } }),
      );
      return { record: out.record, upToDate: out.upToDate, sha256: out.digest.slice('sha256:'.length), unpinned: false };
    }
    if (image) {
      throw new CakeError('bad-source', `${src.path} is an image archive (${image}, as podman save / docker save write it), not a root filesystem tarball`, {
        hint: `cake unpacks oci-archive files but not docker-archive ones yet: convert it with \`skopeo copy ${image}:${src.path} oci:DIR:TAG\` and run \`cake pull oci:DIR:TAG\`, or push it to a registry and pull docker://…`,
      });
    }
    const expected = req.sha256 ? parseSha256(req.sha256) : undefined;
    const record = await installTarball(deps, {
      name,
      file,
      ...(expected ? { expectedSha256: expected } : {}),
      ...(req.force ? { force: true } : {}),
      arch,
      source: sourceRec,
      resolved: { file },
    });
    return { record, upToDate: false, sha256: record.resolved.sha256 as string, unpinned: false };
  }
  if (src.kind === 'registry' || src.kind === 'oci-layout') {
    const image = src.kind === 'registry' ? { kind: src.kind, ref: src.ref } : { kind: src.kind, dir: src.dir, ...(src.tag !== undefined ? { tag: src.tag } : {}) };
    const out = await pullImage(deps, { image, source: sourceRec, name, platform, platformExplicit: req.platform !== undefined, ...(req.force ? { force: true } : {}), ...(req.registry ? { registry: req.registry } : {}) });
    return { record: out.record, upToDate: out.upToDate, sha256: out.digest.slice('sha256:'.length), unpinned: false };
  }
  let url: string;
  let sha256: string | undefined;
  let strip = 0;
  let resolved: Record<string, unknown> = {};
  let candidates: { url: string; sha256: string; strip: number }[] = [];
  if (src.kind === 'url') {
    url = src.url;
    sha256 = req.sha256 ? parseSha256(req.sha256) : src.sha256;
    if (req.sha256 && src.sha256 && parseSha256(req.sha256) !== src.sha256) {
      throw new CakeError('usage', `--sha256 ${req.sha256} and the URL's #sha256=${src.sha256} disagree`, { hint: 'give the pin once' });
    }
  } else if (src.kind === 'distro') {
    if (req.sha256) throw new CakeError('usage', '--sha256 applies to URLs and files; distro definitions are pinned already', { exitCode: 2 });
    const defs = await loadDistros(deps.distrosDir);
    const { distro, release } = findRelease(defs, src.distro, src.release);
    const chosen = selectSource(release, arch, ['archive', 'tarball', 'registry']);
    if (chosen.kind === 'archive') {
      const out = await pullFromArchive(deps, {
        name,
        source: sourceRec,
        archive: chosen,
        resolved: { distro: distro.name, release: release.name },
        ...(req.packages ? { packages: req.packages } : {}),
        ...(req.variant ? { variant: req.variant } : {}),
        ...(req.recommends !== undefined ? { recommends: req.recommends } : {}),
        ...(req.force ? { force: true } : {}),
      });
      return { record: out.record, upToDate: out.upToDate, sha256: undefined, unpinned: false };
    }
    if (req.packages?.length || req.variant || req.recommends) {
      throw new CakeError('usage', `--packages, --variant and --recommends apply to Debian/Ubuntu archive sources; ${distro.name} ${release.name} is pulled as a ${chosen.kind}`, { exitCode: 2 });
    }
    if (chosen.kind === 'registry') {
      const out = await pullImage(deps, { image: { kind: 'registry', ref: chosen.image }, source: sourceRec, name, platform, platformExplicit: req.platform !== undefined, ...(req.force ? { force: true } : {}), ...(req.registry ? { registry: req.registry } : {}), resolved: { distro: distro.name, release: release.name } });
      return { record: out.record, upToDate: out.upToDate, sha256: out.digest.slice('sha256:'.length), unpinned: false };
    }
    if (chosen.kind !== 'tarball') throw new CakeError('internal', `unexpected source kind ${(chosen as { kind: string }).kind}`);
    // Later tarball sources for the same arch are mirrors: tried in order when a host is unreachable.
    candidates = tarballCandidates(release.sources, chosen.arch);
    resolved = { distro: distro.name, release: release.name };
    url = chosen.url;
    sha256 = chosen.sha256;
    strip = chosen.strip;
  } else {
    throw new CakeError('bad-source', `pulling ${(src as Source).kind} sources is not supported yet: ${req.ref}`, {
      exitCode: 1,
      hint: 'use a distro (`cake distros`), an https:// tarball URL or a local tarball',
    });
  }
  if (sha256 && deps.envs.exists(name) && !req.force) {
    const existing = deps.envs.get(name);
    if (existing.resolved.sha256 === sha256 && existing.source.ref === req.ref) {
      return { record: existing, upToDate: true, sha256, unpinned: false };
    }
  }
  if (candidates.length === 0) candidates = [{ url, sha256: sha256 ?? '', strip }];
  let blob: Awaited<ReturnType<typeof fetchToStore>> | undefined;
  for (const [i, c] of candidates.entries()) {
    try {
      blob = await fetchToStore(deps, c.url, c.sha256 || undefined, `downloading ${name}`);
      ({ url, strip } = c);
      sha256 = c.sha256 || undefined;
      break;
    } catch (err) {
      const last = i === candidates.length - 1;
      if (last || !(err instanceof CakeError) || (err.code !== 'network' && err.code !== 'http')) throw err;
      deps.logger.warn(`${err.message}; trying the next source`);
    }
  }
  if (!blob) throw new CakeError('internal', 'no source tried');
  const reuse = reuseIf(blob.sha256);
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
  return { record, upToDate: reused, sha256: blob.sha256, unpinned: !sha256 };
}
