/**
 * docker-archive images (what `docker save`, `podman save` and `skopeo copy … docker-archive:`
 * write), unpacked into a directory: `manifest.json` is a list of `{Config, RepoTags, Layers}`
 * naming the image config (`<hex>.json`) and the layer tars (`<hex>.tar`, `<id>/layer.tar`,
 * `blobs/sha256/<hex>`; plain, gzip or zstd) by their paths in the archive. As an
 * {@link ImageSource}: a synthesized OCI manifest over those files, so that the pull verifies and
 * applies it as it does a registry image (each layer against its diff_id; the config as Env,
 * Entrypoint, Cmd, WorkingDir and User). An uncompressed layer's digest is its diff_id (checked
 * when it is copied into the store); a compressed one is hashed here.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { sniffCompression } from '../archive/decompress.js';
import { CakeError, isErrno } from '../model/errors.js';
import { copyVerified, type ImageSource } from './image-source.js';
import { MAX_CONFIG_BYTES, MEDIA, parseImageConfig, type Descriptor } from './manifest.js';
import { formatReference, normalizedTag, parseReference } from './reference.js';
import type { FetchedManifest } from './registry-client.js';

/** One entry of manifest.json. */
export interface DockerArchiveEntry {
  config: string;
  repoTags: string[];
  layers: string[];
}

function malformed(what: string, why: string): CakeError {
  return new CakeError('bad-archive', `${what}: ${why}`, { hint: 'the archive is not a valid docker-archive (docker save / podman save); save the image again' });
}

/** Parses manifest.json (pure): a non-empty list of entries with a Config path and Layers paths. */
export function parseDockerManifest(bytes: Buffer, what: string): DockerArchiveEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw malformed(what, `manifest.json is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc) || doc.length === 0) throw malformed(what, 'manifest.json is not a list of images');
  return doc.map((e: unknown, i) => {
    const o = (e ?? {}) as Record<string, unknown>;
    if (typeof o.Config !== 'string' || o.Config === '') throw malformed(what, `image ${i + 1} in manifest.json has no Config`);
    if (!Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string' && l !== '')) throw malformed(what, `image ${i + 1} in manifest.json has no Layers list`);
    const tags = Array.isArray(o.RepoTags) ? o.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { config: o.Config, repoTags: tags, layers: o.Layers as string[] };
  });
}

/** `name:tag` of an entry, normalized (`alpine:3` is docker.io/library/alpine:3), or undefined when it is not a reference. */
/**
 * The entry `ref` names, as skopeo reads `docker-archive:FILE:REF` (pure): `@N` is the N-th image
 * (from 0); another REF is a reference (`:latest` when it has no tag) matched against each image's
 * RepoTags, both normalized. Without REF the archive must hold one image.
 */
export function selectDockerEntry(entries: readonly DockerArchiveEntry[], ref: string | undefined, what: string): DockerArchiveEntry {
  const listed = entries.map((e, i) => `@${i} ${e.repoTags.join(' ') || '(untagged)'}`).join(', ');
  if (ref === undefined) {
    if (entries.length === 1) return entries[0]!;
    throw new CakeError('usage', `${what} holds ${entries.length} images (${listed}); name one with ${what}:NAME:TAG or ${what}:@N`, {
      exitCode: 2,
      hint: `e.g. cake pull ${what}:${entries.find((e) => e.repoTags.length > 0)?.repoTags[0] ?? '@0'}`,
    });
  }
  if (ref.startsWith('@')) {
    const n = Number(ref.slice(1));
    const e = Number.isInteger(n) ? entries[n] : undefined;
    if (e === undefined) throw new CakeError('not-found', `${what} has no image ${ref}: it holds ${entries.length} (${listed})`, { hint: `an index is @0 to @${entries.length - 1}` });
    return e;
  }
  const want = parseReference(ref);
  if (want.digest !== undefined) {
    throw new CakeError('bad-source', `${what}:${ref}: a docker-archive names its images by tag, not by digest`, { exitCode: 2, hint: `name one of its images: ${listed}` });
  }
  const key = formatReference(want);
  const found = entries.find((e) => e.repoTags.some((t) => normalizedTag(t) === key));
  if (found === undefined) throw new CakeError('not-found', `${what} has no image tagged ${ref} (${key}); it holds ${listed}`, { hint: `name one of its tags, or an image by position (${what}:@0)` });
  return found;
}

/** The real path of member `name` of the archive unpacked at `dir`: a regular file inside `dir` (symlinks inside it are followed). */
function member(dir: string, name: string, what: string): string {
  if (name.startsWith('/') || name.split('/').includes('..')) throw malformed(what, `manifest.json names ${JSON.stringify(name)}, outside the archive`);
  const root = realpathSync(dir);
  let real: string;
  try {
    real = realpathSync(join(dir, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw malformed(what, `manifest.json names ${JSON.stringify(name)}, which is not in the archive`);
    throw err;
  }
  if (!real.startsWith(root + sep)) throw malformed(what, `${JSON.stringify(name)} leads outside the archive`);
  if (!statSync(real).isFile()) throw malformed(what, `${JSON.stringify(name)} is not a file`);
  return real;
}

function head(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(16);
    return b.subarray(0, readSync(fd, b, 0, 16, 0));
  } finally {
    closeSync(fd);
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

const LAYER_TYPE = { none: MEDIA.ociLayer, gzip: MEDIA.ociLayerGzip, zstd: MEDIA.ociLayerZstd } as Record<string, string>;

/** The archive's image `ref` names (see {@link selectDockerEntry}), as a manifest over its files (file paths by digest). */
async function load(dir: string, what: string, ref: string | undefined): Promise<{ top: FetchedManifest; files: Map<string, string> }> {
  const entries = parseDockerManifest(readFileSync(member(dir, 'manifest.json', what)), what);
  const entry = selectDockerEntry(entries, ref, what);
  const files = new Map<string, string>();
  const configFile = member(dir, entry.config, what);
  if (statSync(configFile).size > MAX_CONFIG_BYTES) throw malformed(what, `the image config ${entry.config} is larger than ${MAX_CONFIG_BYTES} bytes`);
  const configBytes = readFileSync(configFile);
  const config: Descriptor = { mediaType: MEDIA.ociConfig, digest: `sha256:${createHash('sha256').update(configBytes).digest('hex')}`, size: configBytes.length };
  files.set(config.digest, configFile);
  const { diffIds } = parseImageConfig(configBytes);
  if (diffIds.length !== entry.layers.length) throw malformed(what, `manifest.json lists ${entry.layers.length} layers but the image config has ${diffIds.length} diff_ids`);
  const layers: Descriptor[] = [];
  for (const [i, name] of entry.layers.entries()) {
    const file = member(dir, name, what);
    const compression = sniffCompression(head(file));
    const mediaType = LAYER_TYPE[compression];
    if (!mediaType) throw malformed(what, `layer ${name} is compressed with ${compression}; image layers are plain, gzip or zstd tars`);
    // a plain layer is its own diff_id (verified when it is copied into the store)
    const digest = compression === 'none' ? diffIds[i]! : await sha256File(file);
    files.set(digest, file);
    layers.push({ mediaType, digest, size: statSync(file).size });
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers }));
  return { top: { bytes, contentType: MEDIA.ociManifest, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` }, files };
}

/**
 * The image of the docker-archive unpacked at `dir` that `ref` names (see {@link selectDockerEntry});
 * `archive` (`docker-archive:FILE`) names it in messages, and with `:REF` as the image.
 */
export function dockerArchiveSource(dir: string, archive: string, ref?: string): ImageSource {
  const what = ref === undefined ? archive : `${archive}:${ref}`;
  let loaded: ReturnType<typeof load> | undefined;
  const get = () => (loaded ??= load(dir, archive, ref));
  const fileOf = async (desc: Descriptor): Promise<string> => {
    const f = (await get()).files.get(desc.digest);
    if (f === undefined) throw new CakeError('internal', `${what}: no file for ${desc.digest}`);
    return f;
  };
  return {
    what,
    top: async () => (await get()).top,
    manifest: async (desc) => {
      throw new CakeError('internal', `${what}: a docker-archive has no manifest ${desc.digest}`);
    },
    blob: async (desc, maxBytes) => {
      if (desc.size > maxBytes) throw malformed(what, `blob ${desc.digest} is larger than ${maxBytes} bytes`);
      return readFileSync(await fileOf(desc));
    },
    copyBlob: async (desc, partPath, opts) => copyVerified(await fileOf(desc), desc, partPath, opts.signal, what),
  };
}
