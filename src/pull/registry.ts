/**
 * `cake pull docker://…` and `cake pull oci:DIR[:TAG]` (and distro definitions whose source is a
 * registry image): resolve the reference to one platform's manifest, then build the env in a
 * staging dir from its layers and rename it into place. Every manifest and blob is verified
 * before use and each layer against its diff_id while it is unpacked: on any mismatch the staging
 * dir is removed and nothing is installed. Layers live in the blob store by digest, so an image
 * sharing a base layer with one pulled before downloads only its own layers.
 */
import { join } from 'node:path';
import type { OwnershipTable } from '../model/ownership.js';
import { CakeError } from '../model/errors.js';
import { formatPlatform, toDistroArch, type Platform } from '../model/platform.js';
import { BlobLocations } from '../oci/blob-locations.js';
import { connectRegistry } from '../oci/connect.js';
import { dockerArchiveSource } from '../oci/docker-archive.js';
import { firstAnswering, layoutSource, registrySource, resolveImage, type ImageSource, type ResolvedImage, type SourceCandidate } from '../oci/image-source.js';
import { mirrorRepository } from '../oci/mirrors.js';
import { applyLayers } from '../oci/layers.js';
import type { Descriptor } from '../oci/manifest.js';
import { formatReference, manifestReference, parseReference, type ImageReference } from '../oci/reference.js';
import type { RegistryClient } from '../oci/registry-client.js';
import type { EnvRecord, GuestConfig } from '../store/env-record.js';
import { withLock } from '../store/lock.js';
import type { SourceDeps } from './deps.js';

/** What registry access needs from the command line: the environment (credentials files) and --insecure. */
export interface RegistryOptions {
  env: Record<string, string | undefined>;
  insecure?: boolean;
}

export interface ImagePull {
  /**
   * An image reference (without docker://), a local OCI layout, or an unpacked docker-archive;
   * `what` names a local one in messages and env.json (the archive file, not its temporary dir).
   */
  image: { kind: 'registry'; ref: string } | { kind: 'oci-layout'; dir: string; tag?: string; what?: string } | { kind: 'docker-archive'; dir: string; what: string; imageRef?: string };
  /** Recorded in env.json as the source. */
  source: EnvRecord['source'];
  name: string;
  platform: Platform;
  /** --platform was given: a single-platform image for another platform is then an error. */
  platformExplicit: boolean;
  force?: boolean;
  registry?: RegistryOptions;
  /** Extra fields for env.json's `resolved` (a distro's name and release). */
  resolved?: Record<string, unknown>;
}

export interface ImagePullOutcome {
  record: EnvRecord;
  /** The env already was exactly this image; nothing changed. */
  upToDate: boolean;
  /** `sha256:…` of what the reference names (index or manifest): pin it with `@sha256:`. */
  digest: string;
  /** Layers downloaded by this pull (the others were in the store). */
  downloaded: number;
}

/** Shared registry machinery for one command: a client with credentials from `opts.env`. */
export async function registryClient(deps: SourceDeps, opts: RegistryOptions | undefined): Promise<RegistryClient> {
  return connectRegistry({ http: deps.http, logger: deps.logger, signal: deps.signal, env: opts?.env ?? deps.hostEnv ?? {}, insecure: opts?.insecure ?? false });
}

function guestConfig(c: ResolvedImage['config']['config']): GuestConfig | undefined {
  const out: GuestConfig = {};
  if (c.Env) out.env = c.Env;
  if (c.WorkingDir) out.workingDir = c.WorkingDir;
  if (c.User) out.user = c.User;
  if (c.Cmd) out.cmd = c.Cmd;
  if (c.Entrypoint) out.entrypoint = c.Entrypoint;
  return Object.keys(out).length > 0 ? out : undefined;
}

function sameImage(existing: EnvRecord, source: EnvRecord['source'], top: string, platform: string): boolean {
  return existing.source.ref === source.ref && existing.resolved.manifestDigest === top && existing.resolved.platform === platform;
}

/**
 * Brings `desc` into the blob store (once per digest, however many processes ask) and returns its
 * path. Partial downloads stay at a stable path so that a later run resumes them.
 */
async function storeLayer(deps: SourceDeps, src: ImageSource, desc: Descriptor, label: string, signal: AbortSignal, counter: { downloaded: number }): Promise<string> {
  const hex = desc.digest.slice('sha256:'.length);
  if (deps.blobs.has(hex)) return deps.blobs.path(hex);
  deps.blobs.init();
  return withLock(join(deps.paths.locks, `blob-${hex}.lock`), { what: `blob ${desc.digest}`, signal }, async () => {
    if (deps.blobs.has(hex)) return deps.blobs.path(hex);
    const part = join(deps.paths.tmp, `blob-${hex}.part`);
    await src.copyBlob(desc, part, { signal, progressLabel: label });
    counter.downloaded++;
    return deps.blobs.adopt(part, hex);
  });
}

/** Pulls an image into env `req.name` (see the module comment). */
export async function pullImage(deps: SourceDeps, req: ImagePull): Promise<ImagePullOutcome> {
  const platformText = formatPlatform(req.platform);
  let ref: ImageReference | undefined;
  let src: ImageSource;
  let client: RegistryClient | undefined;
  /** The mirror that served the pull, if one did. */
  let mirror: string | undefined;
  if (req.image.kind === 'registry') {
    ref = parseReference(req.image.ref);
    // Pinned and already there: nothing to ask the registry.
    if (ref.digest && !req.force && deps.envs.exists(req.name)) {
      const existing = deps.envs.get(req.name);
      if (sameImage(existing, req.source, ref.digest, platformText)) return { record: existing, upToDate: true, digest: ref.digest, downloaded: 0 };
    }
    client = await registryClient(deps, req.registry);
    const what = `docker://${formatReference(ref)}`;
    src = registrySource(client, { registry: ref.registry, repository: ref.repository, what }, manifestReference(ref));
    const mirrors = deps.registryMirrors?.[ref.registry] ?? [];
    if (mirrors.length > 0) {
      // the mirrors in order, then the registry; each verified like the registry (mirrors.ts)
      const candidates: SourceCandidate[] = [];
      for (const m of mirrors) {
        const mc = m.insecure && !req.registry?.insecure ? await registryClient(deps, { env: req.registry?.env ?? deps.hostEnv ?? {}, insecure: true }) : client;
        const repository = mirrorRepository(m, ref.repository);
        candidates.push({ source: registrySource(mc, { registry: m.host, repository, what: `docker://${m.host}/${repository}` }, manifestReference(ref)), via: `mirror ${m.host}${m.prefix ? `/${m.prefix}` : ''}` });
      }
      candidates.push({ source: src });
      src = firstAnswering(what, candidates, deps.logger, deps.signal, (c) => (mirror = c.via?.replace(/^mirror /, '')));
    }
  } else if (req.image.kind === 'docker-archive') {
    src = dockerArchiveSource(req.image.dir, req.image.what, req.image.imageRef);
  } else {
    src = layoutSource(req.image.dir, req.image.tag, req.image.what);
  }
  deps.logger.info(`resolving ${src.what}`);
  const top = await src.top();
  if (!req.force && deps.envs.exists(req.name)) {
    // A tag that still names what the env holds: up to date without fetching anything else.
    const existing = deps.envs.get(req.name);
    if (sameImage(existing, req.source, top.digest, platformText)) return { record: existing, upToDate: true, digest: top.digest, downloaded: 0 };
  }
  const image = await resolveImage({ ...src, top: async () => top }, req.platform, req.platformExplicit, deps.logger);
  const { manifest, config } = image;
  const total = manifest.layers.reduce((n, l) => n + l.size, 0);
  deps.logger.info(`${src.what}: ${formatPlatform(image.platform)} ${image.manifestDigest}, ${manifest.layers.length} layer(s), ${(total / 1048576).toFixed(1)} MiB`);
  if (ref?.digest && ref.digest !== image.topDigest) throw new CakeError('internal', `resolved ${image.topDigest} for a reference pinned to ${ref.digest}`);
  const imagePlatform = formatPlatform(image.platform);
  let reused = false;
  const counter = { downloaded: 0 };
  const record = await deps.envs.create(
    req.name,
    async ({ rootfs }) => {
      const ownership: OwnershipTable = {};
      const n = manifest.layers.length;
      const stats = await applyLayers({
        layers: manifest.layers,
        diffIds: config.diffIds,
        fetch: (desc, i, signal) => storeLayer(deps, src, desc, `layer ${i + 1}/${n} of ${req.name}`, signal, counter),
        root: rootfs,
        ownership,
        signal: deps.signal,
        logger: deps.logger,
        what: src.what,
      });
      const gc = guestConfig(config.config);
      return {
        version: 1,
        name: req.name,
        created: new Date().toISOString(),
        source: req.source,
        resolved: {
          ...req.resolved,
          image: src.what,
          ...(ref ? { registry: ref.registry, repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}) } : {}),
          ...(mirror ? { mirror } : {}),
          manifestDigest: image.topDigest,
          mediaType: image.topMediaType,
          platformManifest: image.manifestDigest,
          config: image.configDigest,
          layers: manifest.layers.map((l) => l.digest),
          platform: platformText,
          imagePlatform,
        },
        arch: toDistroArch(image.platform) ?? image.platform.arch,
        ...(gc ? { config: gc } : {}),
        stats: { ...stats, layers: n, layersDownloaded: counter.downloaded },
        ownership,
      } satisfies EnvRecord;
    },
    {
      ...(req.force ? { force: true } : {}),
      reuse: (existing) => (reused = !req.force && sameImage(existing, req.source, image.topDigest, platformText)),
      signal: deps.signal,
      onWait: () => deps.logger.info(`waiting for another cake process working on ${req.name}`),
    },
  );
  if (ref && !reused && !mirror) new BlobLocations(join(deps.paths.cache, 'oci')).remember(ref.registry, ref.repository, [...manifest.layers.map((l) => l.digest), image.configDigest]);
  return { record, upToDate: reused, digest: image.topDigest, downloaded: counter.downloaded };
}
