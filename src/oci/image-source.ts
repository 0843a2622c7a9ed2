/**
 * Where an image comes from (a registry or a local OCI layout), behind one interface, and the
 * walk from a reference to what gets unpacked: top manifest → (index → the platform's manifest) →
 * image config. Every manifest and blob is verified against its digest.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { formatPlatform, normalizePlatform, samePlatform, type Platform } from '../model/platform.js';
import { findLayoutEntry, layoutBlobPath, readLayoutBlob, readLayoutIndex } from './layout.js';
import {
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  MEDIA,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
} from './manifest.js';
import type { FetchedManifest, RegistryClient, Repo } from './registry-client.js';

export interface ImageSource {
  /** For messages: `docker://…` or `oci:DIR:TAG`. */
  what: string;
  /** The manifest or index the reference names. */
  top(): Promise<FetchedManifest>;
  /** A manifest named by an index entry. */
  manifest(desc: Descriptor): Promise<FetchedManifest>;
  /** A small blob (the config), verified. */
  blob(desc: Descriptor, maxBytes: number): Promise<Buffer>;
  /** Writes a blob into `partPath` (resuming what is there when it can), verified by size and digest. */
  copyBlob(desc: Descriptor, partPath: string, opts: { signal: AbortSignal; progressLabel?: string }): Promise<void>;
}

/** An image in a registry. */
export function registrySource(client: RegistryClient, repo: Repo, reference: string): ImageSource {
  return {
    what: repo.what,
    top: () => client.getManifest(repo, reference),
    manifest: (desc) => client.getManifest(repo, desc.digest),
    blob: (desc, maxBytes) => client.getBlob(repo, desc, maxBytes),
    copyBlob: (desc, partPath, opts) => client.downloadBlob(repo, desc, partPath, opts),
  };
}

/** One candidate of {@link firstAnswering}: a source and how to name it in messages. */
export interface SourceCandidate {
  source: ImageSource;
  /** `mirror 127.0.0.1:5001`; absent for the registry itself. */
  via?: string;
}

/**
 * Mirrors before their registry: the first candidate whose top manifest can be fetched (and
 * verified) serves the pull; one that fails (unreachable, an error status, no such image, a
 * digest that does not match) is logged and the next is tried. The last candidate's error is the
 * one thrown. `onChosen` learns which one answered. The result is named as the registry (`what`).
 * After that, each manifest and blob is asked of the chosen candidate first and, when that fails
 * (missing, an error status after retries, a digest that does not match), of the candidates after
 * it in turn, the registry last: a mirror that holds the manifest but lost or corrupted a blob
 * does not fail the pull. A partial download is dropped before the next source is asked (its
 * bytes may be the bad ones).
 */
export function firstAnswering(what: string, candidates: readonly SourceCandidate[], logger: Logger, signal: AbortSignal, onChosen: (c: SourceCandidate) => void = () => {}): ImageSource {
  let chosen: Promise<{ index: number; top: FetchedManifest }> | undefined;
  const name = (i: number) => candidates[i]!.via ?? 'the registry itself';
  const choose = async (): Promise<{ index: number; top: FetchedManifest }> => {
    for (const [i, c] of candidates.entries()) {
      try {
        const top = await c.source.top();
        if (c.via) logger.info(`${what}: pulling through ${c.via}`);
        onChosen(c);
        return { index: i, top };
      } catch (err) {
        if (i === candidates.length - 1 || signal.aborted || !(err instanceof CakeError)) throw err;
        logger.info(`${what}: ${c.via ?? c.source.what} failed (${err.message}); trying ${name(i + 1)}`);
      }
    }
    throw new CakeError('internal', `${what}: no source to pull from`);
  };
  const get = () => (chosen ??= choose());
  /** `fetch` from the chosen candidate, then from each one after it. */
  const each = async <T>(item: string, fetch: (s: ImageSource) => Promise<T>, beforeNext: () => void = () => {}): Promise<T> => {
    const { index } = await get();
    for (let i = index; ; i++) {
      try {
        return await fetch(candidates[i]!.source);
      } catch (err) {
        if (i === candidates.length - 1 || signal.aborted || !(err instanceof CakeError) || err.code === 'interrupted') throw err;
        logger.info(`${what}: ${item} from ${name(i)} failed (${err.message}); trying ${name(i + 1)}`);
        beforeNext();
      }
    }
  };
  return {
    what,
    top: async () => (await get()).top,
    manifest: (desc) => each(`manifest ${desc.digest}`, (s) => s.manifest(desc)),
    blob: (desc, maxBytes) => each(`blob ${desc.digest}`, (s) => s.blob(desc, maxBytes)),
    copyBlob: (desc, partPath, opts) => each(`blob ${desc.digest}`, (s) => s.copyBlob(desc, partPath, opts), () => rmSync(partPath, { force: true })),
  };
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Copies `file` (a blob of a local image: a layout's or an image archive's) to `partPath`,
 * checking its size and sha256 against `desc`; `where` names the image in errors.
 */
export async function copyVerified(file: string, desc: Descriptor, partPath: string, signal: AbortSignal, where: string): Promise<void> {
  const h = new Hasher();
  try {
    await pipeline(createReadStream(file), h, createWriteStream(partPath), { signal });
  } catch (err) {
    rmSync(partPath, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CakeError('not-found', `blob ${desc.digest} is missing from ${where}`, { hint: 'the image is incomplete; copy or save it again' });
    }
    throw err;
  }
  const digest = `sha256:${h.hash.digest('hex')}`;
  if (digest !== desc.digest || h.size !== desc.size) {
    rmSync(partPath, { force: true }); // a local copy is never resumed
    throw new CakeError('digest-mismatch', `blob ${desc.digest} in ${where} does not match its digest (got ${digest}, ${h.size} bytes)`, { hint: 'the image is corrupt; nothing was installed' });
  }
}

/** An image in a local OCI layout, named by tag (or the layout's only image). */
export function layoutSource(dir: string, tag: string | undefined, archive?: string): ImageSource {
  const what = `${archive ?? `oci:${dir}`}${tag !== undefined ? `:${tag}` : ''}`;
  const read = (desc: Descriptor, maxBytes: number): FetchedManifest => ({ bytes: readLayoutBlob(dir, desc, maxBytes), contentType: desc.mediaType, digest: desc.digest });
  return {
    what,
    top: async () => read(findLayoutEntry(dir, readLayoutIndex(dir), tag, archive), MAX_MANIFEST_BYTES),
    manifest: async (desc) => read(desc, MAX_MANIFEST_BYTES),
    blob: async (desc, maxBytes) => readLayoutBlob(dir, desc, maxBytes),
    copyBlob: (desc, partPath, opts) => copyVerified(layoutBlobPath(dir, desc.digest), desc, partPath, opts.signal, `the OCI layout ${dir}`),
  };
}

export interface ResolvedImage {
  /** Digest of what the reference names (an index or a manifest): what `@sha256:` pins. */
  topDigest: string;
  topMediaType: string;
  /** Digest of the platform's image manifest (equals topDigest without an index). */
  manifestDigest: string;
  manifest: ImageManifest;
  configDigest: string;
  config: ImageConfig;
  /** The image's platform (from the index entry, else its config). */
  platform: Platform;
}

function configPlatform(c: ImageConfig): Platform | undefined {
  if (!c.os || !c.architecture) return undefined;
  try {
    return normalizePlatform({ os: c.os, arch: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });
  } catch {
    return undefined;
  }
}

/**
 * Resolves `src` for `want`: an index is narrowed to its entry for the platform (nested indices
 * are followed, twice at most); a single manifest is taken as is, and when its config names
 * another platform that is an error if the platform was asked for explicitly, a warning
 * otherwise (the image then runs through emulation).
 */
export async function resolveImage(src: ImageSource, want: Platform, explicit: boolean, logger: Logger): Promise<ResolvedImage> {
  const top = await src.top();
  let doc = parseManifest(top.bytes, top.contentType);
  const topMediaType = doc.mediaType;
  let digest = top.digest;
  let entryPlatform: Platform | undefined;
  for (let depth = 0; doc.kind === 'index'; depth++) {
    if (depth >= 2) throw new CakeError('registry', `${src.what}: indices nested too deep`);
    const entry = selectPlatform(doc, want, src.what);
    const p = entry.platform!;
    entryPlatform = normalizePlatform({ os: p.os, arch: p.architecture, ...(p.variant ? { variant: p.variant } : {}) });
    logger.debug(`${src.what}: ${formatPlatform(entryPlatform)} is ${entry.digest}`);
    const child = await src.manifest(entry);
    doc = parseManifest(child.bytes, entry.mediaType);
    digest = child.digest;
  }
  const manifest = doc;
  if (manifest.config.mediaType !== MEDIA.ociConfig && manifest.config.mediaType !== MEDIA.dockerConfig) {
    throw new CakeError('registry', `${src.what} is not a container image (its config is ${manifest.config.mediaType})`, { hint: 'cake pulls container images; this looks like another kind of OCI artifact' });
  }
  const config = parseImageConfig(await src.blob(manifest.config, MAX_CONFIG_BYTES));
  let platform = entryPlatform ?? configPlatform(config) ?? normalizePlatform(want);
  if (!entryPlatform) {
    const own = configPlatform(config);
    if (own && !samePlatform(own, want)) {
      if (explicit) {
        throw new CakeError('not-found', `${src.what} is an image for ${formatPlatform(own)}, not ${formatPlatform(want)}`, { hint: `drop --platform, or pull an image built for ${formatPlatform(want)}` });
      }
      logger.warn(`${src.what} is an image for ${formatPlatform(own)}; this host is ${formatPlatform(want)} (programs will run through emulation)`);
    }
    platform = own ?? platform;
  }
  return { topDigest: top.digest, topMediaType, manifestDigest: digest, manifest, configDigest: manifest.config.digest, config, platform };
}
