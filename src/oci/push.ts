/**
 * An environment as an OCI image, and its upload. The image has one gzip layer: the deterministic
 * tar of the rootfs (sorted entries, numeric real ownership from the ownership table, mtimes
 * clamped to SOURCE_DATE_EPOCH when given), an image config carrying the env's defaults (Env,
 * WorkingDir, User, Cmd, Entrypoint) and an OCI manifest. Same tree + same epoch → same digests.
 */
import { createHash } from 'node:crypto';
import { CakeError } from '../model/errors.js';
import { closeSync, createWriteStream, openSync, readSync, rmSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressStream } from '../archive/decompress.js';
import type { OwnershipTable } from '../model/ownership.js';
import { writeTar } from '../archive/tar-writer.js';
import type { Logger } from '../model/logger.js';
import { fromDistroArch, isDistroArch, normalizePlatform, type Platform } from '../model/platform.js';
import type { BlobLocations } from './blob-locations.js';
import { completeImageDefaults } from './image-defaults.js';
import { LayoutWriter } from './layout.js';
import { MEDIA, type Descriptor } from './manifest.js';
import type { RegistryClient, Repo } from './registry-client.js';

export interface ImageDefaults {
  env?: string[];
  workingDir?: string;
  user?: string;
  cmd?: string[];
  entrypoint?: string[];
}

export interface BuildImageOptions {
  rootfs: string;
  ownership: OwnershipTable;
  /** Distro arch (x86_64, aarch64, …) or an OCI one. */
  arch: string;
  /** The env's image config (a registry-pulled env, a recipe's env:), completed by completeImageDefaults (login shell, PATH). */
  defaults?: ImageDefaults;
  /** Where to write the compressed layer (a temp file the caller removes). */
  layerPath: string;
  sourceDateEpoch?: number;
  signal?: AbortSignal;
}

export interface BuiltImage {
  layer: Descriptor & { path: string; diffId: string };
  config: { bytes: Buffer; descriptor: Descriptor };
  manifest: { bytes: Buffer; descriptor: Descriptor };
  entries: number;
}

class Digester extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function platformOf(arch: string): Platform {
  return isDistroArch(arch) ? fromDistroArch(arch) : normalizePlatform({ os: 'linux', arch });
}

/** Writes the layer and makes the config and manifest (see the module comment). */
export async function buildImage(o: BuildImageOptions): Promise<BuiltImage> {
  const plain = new Digester({ highWaterMark: 1 << 20 });
  const packed = new Digester({ highWaterMark: 1 << 20 });
  const piped = pipeline(plain, compressStream('gzip'), packed, createWriteStream(o.layerPath), ...(o.signal ? [{ signal: o.signal }] : []));
  let entries: number;
  try {
    ({ entries } = await writeTar(o.rootfs, o.ownership, plain, { ...(o.sourceDateEpoch !== undefined ? { sourceDateEpoch: o.sourceDateEpoch } : {}), ...(o.signal ? { signal: o.signal } : {}) }));
    await piped;
  } catch (err) {
    await piped.catch(() => {});
    rmSync(o.layerPath, { force: true });
    throw err;
  }
  const layer = { mediaType: MEDIA.ociLayerGzip, digest: packed.digest(), size: packed.size, path: o.layerPath, diffId: plain.digest() };
  const p = platformOf(o.arch);
  const created = new Date(o.sourceDateEpoch !== undefined ? o.sourceDateEpoch * 1000 : Date.now()).toISOString().replace(/\.000Z$/, 'Z');
  const d = completeImageDefaults(o.rootfs, o.defaults);
  const runConfig: Record<string, unknown> = {};
  if (d.env) runConfig.Env = d.env;
  if (d.entrypoint) runConfig.Entrypoint = d.entrypoint;
  if (d.cmd) runConfig.Cmd = d.cmd;
  if (d.workingDir) runConfig.WorkingDir = d.workingDir;
  if (d.user) runConfig.User = d.user;
  const configBytes = Buffer.from(
    JSON.stringify({
      created,
      architecture: p.arch,
      ...(p.variant ? { variant: p.variant } : {}),
      os: p.os,
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created, created_by: 'cake push' }],
    }),
  );
  const config = { bytes: configBytes, descriptor: { mediaType: MEDIA.ociConfig, digest: sha256(configBytes), size: configBytes.length } };
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: config.descriptor,
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    }),
  );
  const manifest = { bytes: manifestBytes, descriptor: { mediaType: MEDIA.ociManifest, digest: sha256(manifestBytes), size: manifestBytes.length } };
  return { layer, config, manifest, entries };
}

export interface PushOptions {
  logger: Logger;
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size. Default 16 MiB. */
  chunkSize?: number;
  /** Where blobs were seen on this registry, for cross-repository mounts (updated after the push). */
  locations?: BlobLocations;
}

export interface PushResult {
  digest: string;
  /** How each blob got there. */
  blobs: Array<{ digest: string; how: 'present' | 'mounted' | 'monolithic' | 'chunked' }>;
}

function readRange(path: string, start: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  const fd = openSync(path, 'r');
  try {
    let off = 0;
    while (off < length) {
      const n = readSync(fd, buf, off, length - off, start + off);
      if (n === 0) {
        throw new CakeError('io', `${path} is shorter than expected (${start + off} of ${start + length} bytes)`, {
          hint: 'the packed layer changed while it was being pushed (disk full, or removed by another process?); run the push again',
        });
      }
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** Uploads one blob unless the repository has it; tries a mount from a repository known to hold it. */
async function pushBlob(client: RegistryClient, repo: Repo, desc: Descriptor, read: (start: number, length: number) => Buffer, o: PushOptions): Promise<PushResult['blobs'][number]['how']> {
  if (await client.hasBlob(repo, desc.digest, [`repository:${repo.repository}:pull,push`])) return 'present';
  let location: string | undefined;
  for (const from of o.locations?.repositories(repo.registry, desc.digest) ?? []) {
    if (from === repo.repository) continue;
    const r = await client.startUpload(repo, { digest: desc.digest, from });
    if (r.mounted) {
      o.logger.debug(`${desc.digest}: mounted from ${from}`);
      return 'mounted';
    }
    location = r.location;
    break;
  }
  if (location === undefined) {
    const r = await client.startUpload(repo);
    if (r.mounted) return 'mounted';
    location = r.location;
  }
  const chunk = o.chunkSize ?? 16 * 1024 * 1024;
  if (desc.size <= chunk) {
    await client.finishUpload(repo, location, desc.digest, read(0, desc.size));
    return 'monolithic';
  }
  for (let start = 0; start < desc.size; start += chunk) {
    location = await client.uploadChunk(repo, location, start, read(start, Math.min(chunk, desc.size - start)));
  }
  await client.finishUpload(repo, location, desc.digest);
  return 'chunked';
}

/** Pushes a built image as `repo:tag` with the distribution protocol. */
export async function pushToRegistry(client: RegistryClient, repo: Repo, tag: string, image: BuiltImage, o: PushOptions): Promise<PushResult> {
  const blobs: PushResult['blobs'] = [];
  const layerHow = await pushBlob(client, repo, image.layer, (s, n) => readRange(image.layer.path, s, n), o);
  blobs.push({ digest: image.layer.digest, how: layerHow });
  o.logger.debug(`layer ${image.layer.digest}: ${layerHow}`);
  const configHow = await pushBlob(client, repo, image.config.descriptor, (s, n) => image.config.bytes.subarray(s, s + n), o);
  blobs.push({ digest: image.config.descriptor.digest, how: configHow });
  const digest = await client.putManifest(repo, tag, image.manifest.bytes, MEDIA.ociManifest);
  o.locations?.remember(repo.registry, repo.repository, [image.layer.digest, image.config.descriptor.digest]);
  return { digest, blobs };
}

/** Writes a built image into the OCI layout `dir`, tagged `tag`. */
export function pushToLayout(dir: string, tag: string, image: BuiltImage): string {
  const w = new LayoutWriter(dir);
  w.putFile(image.layer.path, image.layer.digest);
  w.putBytes(image.config.bytes);
  w.putBytes(image.manifest.bytes);
  w.tag(image.manifest.descriptor, tag);
  return image.manifest.descriptor.digest;
}
