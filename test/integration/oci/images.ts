/**
 * Images built byte by byte for the OCI tests: layers (gzip, zstd, none) from hand-made tars,
 * configs, manifests (OCI or Docker types) and indices, ready for uploadImage().
 */
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { digestOf, type RawImage } from '../../helpers/registry.js';

export const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};
export const DOCKER = {
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

export interface Layer {
  bytes: Buffer;
  diffId: string;
  desc: { mediaType: string; digest: string; size: number };
}

export function layer(tarBytes: Buffer, compression: 'gzip' | 'zstd' | 'none', docker = false): Layer {
  const bytes = compression === 'gzip' ? gzipSync(tarBytes) : compression === 'zstd' ? execFileSync('zstd', ['-q', '-c', '-3'], { input: tarBytes }) : tarBytes;
  const mediaType = docker ? DOCKER.layer : compression === 'gzip' ? OCI.gzip : compression === 'zstd' ? OCI.zstd : OCI.layer;
  return { bytes, diffId: digestOf(tarBytes), desc: { mediaType, digest: digestOf(bytes), size: bytes.length } };
}

export interface ConfigSpec {
  arch?: string;
  os?: string;
  variant?: string;
  env?: string[];
  workingDir?: string;
  user?: string;
  cmd?: string[];
  entrypoint?: string[];
}

export interface BuiltImage extends RawImage {
  digest: string;
  config: Buffer;
  layers: Layer[];
}

/** One image: its config and manifest; `diffIds` overrides the layers' own (to break an image). */
export function image(layers: Layer[], spec: ConfigSpec = {}, opts: { docker?: boolean; diffIds?: string[] } = {}): BuiltImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: spec.arch ?? 'amd64',
      os: spec.os ?? 'linux',
      ...(spec.variant ? { variant: spec.variant } : {}),
      config: {
        ...(spec.env ? { Env: spec.env } : {}),
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      },
      rootfs: { type: 'layers', diff_ids: opts.diffIds ?? layers.map((l) => l.diffId) },
    }),
  );
  const mediaType = opts.docker ? DOCKER.manifest : OCI.manifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: opts.docker ? DOCKER.config : OCI.config, digest: digestOf(config), size: config.length },
      layers: layers.map((l) => l.desc),
    }),
  );
  return { blobs: [...layers.map((l) => l.bytes), config], manifest: { bytes: manifest, mediaType }, digest: digestOf(manifest), config, layers };
}

export interface IndexEntry {
  image: BuiltImage;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** An index (OCI, or a Docker manifest list) over images, in the order given. */
export function index(entries: IndexEntry[], docker = false): RawImage & { digest: string } {
  const mediaType = docker ? DOCKER.list : OCI.index;
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: entries.map((e) => ({
        mediaType: e.image.manifest.mediaType,
        digest: e.image.digest,
        size: e.image.manifest.bytes.length,
        ...(e.platform ? { platform: e.platform } : {}),
        ...(e.annotations ? { annotations: e.annotations } : {}),
      })),
    }),
  );
  return {
    blobs: entries.flatMap((e) => e.image.blobs),
    children: entries.map((e) => e.image.manifest),
    manifest: { bytes, mediaType },
    digest: digestOf(bytes),
  };
}
