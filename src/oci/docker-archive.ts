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

/** The archive's one image, as a manifest over its files (file paths by digest). */
async function load(dir: string, what: string): Promise<{ top: FetchedManifest; files: Map<string, string> }> {
  const entries = parseDockerManifest(readFileSync(member(dir, 'manifest.json', what)), what);
  if (entries.length > 1) {
    throw new CakeError('usage', `${what} holds ${entries.length} images (${entries.map((e) => e.repoTags.join(' ') || e.config).join(', ')})`, {
      hint: 'save one image per archive (`podman save -o FILE IMAGE`), or push them to a registry and pull each by name',
    });
  }
  const entry = entries[0]!;
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

/** The image of the docker-archive unpacked at `dir`; `what` (`docker-archive:FILE`) names it in messages. */
export function dockerArchiveSource(dir: string, what: string): ImageSource {
  let loaded: ReturnType<typeof load> | undefined;
  const get = () => (loaded ??= load(dir, what));
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
