/**
 * OCI and Docker manifests, indices and image configs: media types, strict parsing of what cake
 * relies on, and platform selection from an index. Pure: no I/O.
 */
import { CakeError } from '../model/errors.js';
import { formatPlatform, normalizePlatform, type Platform } from '../model/platform.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** The Accept header for manifests: every type cake reads (distribution answers 404 for an OCI index not listed here). */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

/** containers/image's limit: a manifest or config larger than this is not one. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

const LAYER_COMPRESSION: Record<string, 'gzip' | 'zstd' | 'none'> = {
  [MEDIA.ociLayer]: 'none',
  [MEDIA.ociLayerGzip]: 'gzip',
  [MEDIA.ociLayerZstd]: 'zstd',
  [MEDIA.ociLayerNondist]: 'none',
  [MEDIA.ociLayerNondistGzip]: 'gzip',
  [MEDIA.ociLayerNondistZstd]: 'zstd',
  [MEDIA.dockerLayer]: 'gzip',
  [MEDIA.dockerForeignLayer]: 'gzip',
};

export interface Descriptor {
  mediaType: string;
  /** `sha256:<hex>` (other algorithms are refused at parse time). */
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of an image config cake uses. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config: { Env?: string[]; WorkingDir?: string; User?: string; Cmd?: string[]; Entrypoint?: string[] };
  diffIds: string[];
}

function invalid(what: string, why: string): CakeError {
  return new CakeError('registry', `invalid ${what}: ${why}`, { hint: 'the registry or layout serves something that is not a valid OCI/Docker image' });
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(what, `not JSON (${(err as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(what, 'not a JSON object');
  return v as Record<string, unknown>;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const strArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v as object).every(isStr)) throw invalid(what, 'annotations must map strings to strings');
  return { ...(v as Record<string, string>) };
}

/** Validates one descriptor; the digest must be sha256 and the size a safe non-negative integer. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(what, 'a descriptor must be an object');
  const d = v as Record<string, unknown>;
  if (!isStr(d.mediaType)) throw invalid(what, 'descriptor without a mediaType');
  if (!isStr(d.digest)) throw invalid(what, 'descriptor without a digest');
  if (!/^sha256:[0-9a-f]{64}$/.test(d.digest)) {
    throw invalid(what, /^[a-z0-9]+[+._-]?[a-z0-9]*:/.test(d.digest) && !d.digest.startsWith('sha256:') ? `unsupported digest algorithm in ${d.digest.slice(0, 20)}… (cake verifies sha256)` : `malformed digest ${JSON.stringify(d.digest.slice(0, 80))}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(what, `descriptor ${d.digest} has an invalid size`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls !== undefined) {
    if (!strArray(d.urls)) throw invalid(what, 'urls must be a list of strings');
    out.urls = d.urls;
  }
  const annotations = stringMap(d.annotations, what);
  if (annotations) out.annotations = annotations;
  if (d.platform !== undefined) {
    const p = d.platform as Record<string, unknown> | null;
    if (p === null || typeof p !== 'object' || !isStr(p.os) || !isStr(p.architecture)) throw invalid(what, `descriptor ${d.digest} has an invalid platform`);
    out.platform = { os: p.os, architecture: p.architecture, ...(isStr(p.variant) && p.variant !== '' ? { variant: p.variant } : {}) };
  }
  return out;
}

/**
 * Parses a manifest or index. The type comes from the document's `mediaType`, else from the
 * Content-Type it was served with, else from its shape (`manifests` vs `layers`). Schema 1
 * manifests and unknown types are refused.
 */
export function parseManifest(bytes: Buffer, contentType?: string): ImageIndex | ImageManifest {
  const doc = parseJson(bytes, 'manifest');
  const served = contentType?.split(';')[0]?.trim();
  if (doc.schemaVersion === 1 || served?.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw new CakeError('registry', 'Docker schema 1 manifests are not supported', { hint: 'this image format was retired in 2019; push the image again with a current client' });
  }
  if (doc.schemaVersion !== 2) throw invalid('manifest', `schemaVersion is ${JSON.stringify(doc.schemaVersion)}, not 2`);
  let mediaType = isStr(doc.mediaType) ? doc.mediaType : served && served !== 'application/json' && served !== 'application/octet-stream' ? served : undefined;
  mediaType ??= Array.isArray(doc.manifests) ? MEDIA.ociIndex : MEDIA.ociManifest;
  const annotations = stringMap(doc.annotations, 'manifest');
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) {
    if (!Array.isArray(doc.manifests)) throw invalid('index', 'no manifests list');
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `index entry ${i}`));
    return { kind: 'index', mediaType, manifests, ...(annotations ? { annotations } : {}) };
  }
  if (mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest) {
    if (!Array.isArray(doc.layers)) throw invalid('manifest', 'no layers list');
    const config = parseDescriptor(doc.config, 'manifest config');
    const layers = doc.layers.map((l, i) => parseDescriptor(l, `layer ${i}`));
    return { kind: 'manifest', mediaType, config, layers, ...(annotations ? { annotations } : {}) };
  }
  throw invalid('manifest', `unsupported media type ${JSON.stringify(mediaType)}`);
}

/** How a layer is compressed, from its media type; undefined for a type that is not a layer. */
export function layerCompression(mediaType: string): 'gzip' | 'zstd' | 'none' | undefined {
  return LAYER_COMPRESSION[mediaType];
}

/** Parses an image config (OCI or Docker), keeping what cake uses; diff_ids must be sha256. */
export function parseImageConfig(bytes: Buffer): ImageConfig {
  const doc = parseJson(bytes, 'image config');
  const rootfs = doc.rootfs as Record<string, unknown> | undefined;
  if (!rootfs || typeof rootfs !== 'object' || !strArray(rootfs.diff_ids)) throw invalid('image config', 'no rootfs.diff_ids');
  for (const d of rootfs.diff_ids) if (!/^sha256:[0-9a-f]{64}$/.test(d)) throw invalid('image config', `diff_id ${JSON.stringify(d.slice(0, 80))} is not a sha256 digest`);
  const c = (doc.config ?? {}) as Record<string, unknown>;
  if (typeof c !== 'object' || c === null) throw invalid('image config', 'config is not an object');
  const config: ImageConfig['config'] = {};
  if (strArray(c.Env)) config.Env = c.Env;
  if (isStr(c.WorkingDir) && c.WorkingDir !== '') config.WorkingDir = c.WorkingDir;
  if (isStr(c.User) && c.User !== '') config.User = c.User;
  if (strArray(c.Cmd)) config.Cmd = c.Cmd;
  if (strArray(c.Entrypoint)) config.Entrypoint = c.Entrypoint;
  return {
    architecture: isStr(doc.architecture) ? doc.architecture : '',
    os: isStr(doc.os) ? doc.os : '',
    ...(isStr(doc.variant) && doc.variant !== '' ? { variant: doc.variant } : {}),
    config,
    diffIds: rootfs.diff_ids,
  };
}

/** Attestations and other non-image entries some builders add to an index. */
function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] !== undefined || d.platform?.os === 'unknown' || d.platform?.architecture === 'unknown';
}

function entryPlatform(d: Descriptor): Platform | undefined {
  if (!d.platform) return undefined;
  try {
    return normalizePlatform({ os: d.platform.os, arch: d.platform.architecture, ...(d.platform.variant ? { variant: d.platform.variant } : {}) });
  } catch {
    return undefined; // windows, unknown arches: never chosen for a Linux env
  }
}

const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', amd64: 'v1', arm: 'v7' };

/** Variants acceptable for `want`, best first: arm walks down (v8 → v7 → v6 → v5); others match exactly. */
function acceptableVariants(want: Platform): string[] {
  const v = want.variant ?? DEFAULT_VARIANT[want.arch];
  if (want.arch === 'arm') {
    const order = ['v8', 'v7', 'v6', 'v5'];
    return order.slice(order.indexOf(v ?? 'v7'));
  }
  return v === undefined ? [''] : [v];
}

/** `linux/amd64, linux/arm64/v8, ...` for messages. */
export function describePlatforms(index: ImageIndex): string {
  const seen = index.manifests.filter((d) => !isAttestation(d)).map((d) => (d.platform ? formatPlatform({ os: d.platform.os, arch: d.platform.architecture, ...(d.platform.variant ? { variant: d.platform.variant } : {}) }) : '(no platform)'));
  return seen.length > 0 ? [...new Set(seen)].join(', ') : 'nothing';
}

/**
 * The index entry for `want` (os, architecture and variant; arm64 == arm64/v8, amd64 == amd64/v1;
 * arm accepts lower variants, best first). Never "the first entry": entries without a platform,
 * attestations and non-Linux entries are skipped. Throws CakeError('not-found') listing the
 * platforms the index has.
 */
export function selectPlatform(index: ImageIndex, want: Platform, what: string): Descriptor {
  const target = normalizePlatform(want);
  const variants = acceptableVariants(target);
  let best: { d: Descriptor; rank: number } | undefined;
  for (const d of index.manifests) {
    if (isAttestation(d)) continue;
    if (d.mediaType !== MEDIA.ociManifest && d.mediaType !== MEDIA.dockerManifest && d.mediaType !== MEDIA.ociIndex && d.mediaType !== MEDIA.dockerList) continue;
    const p = entryPlatform(d);
    if (!p || p.os !== target.os || p.arch !== target.arch) continue;
    const rank = variants.indexOf(p.variant ?? DEFAULT_VARIANT[p.arch] ?? '');
    if (rank < 0) continue;
    if (!best || rank < best.rank) best = { d, rank };
  }
  if (best) return best.d;
  throw new CakeError('not-found', `${what} has no image for ${formatPlatform(target)}; it has ${describePlatforms(index)}`, {
    hint: 'pick one of those with --platform OS/ARCH[/VARIANT]',
  });
}
