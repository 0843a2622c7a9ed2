/**
 * OCI image layouts (image-spec image-layout.md): a directory with `oci-layout`
 * (`{"imageLayoutVersion":"1.0.0"}`), `index.json` (an image index whose entries carry the tag in
 * the `org.opencontainers.image.ref.name` annotation) and `blobs/sha256/<hex>`. Read as a source
 * for `cake pull oci:DIR[:TAG]`, written by `cake push NAME oci:DIR[:TAG]`.
 */
import { tmpSibling, writeFileAtomic } from '../store/atomic-write.js';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { MEDIA, parseManifest, type Descriptor, type ImageIndex } from './manifest.js';
import { normalizedTag } from './reference.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';

/** The file of `digest` (`sha256:<hex>`, already validated by the manifest parser) in layout `dir`. */
export function layoutBlobPath(dir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  if (!digest.startsWith('sha256:') || !/^[0-9a-f]{64}$/.test(hex)) throw new CakeError('bad-digest', `invalid digest ${JSON.stringify(digest)}`);
  return join(dir, 'blobs', 'sha256', hex);
}

/** Reads `index.json` of the layout at `dir`, after checking `oci-layout`. */
export function readLayoutIndex(dir: string): ImageIndex {
  let marker: string;
  try {
    marker = readFileSync(join(dir, 'oci-layout'), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
      throw new CakeError('not-found', `${dir} is not an OCI image layout (no oci-layout file)`, { hint: 'an OCI layout is what `skopeo copy … oci:DIR:TAG` or `umoci init --layout DIR` make' });
    }
    throw new CakeError('io', `cannot read ${join(dir, 'oci-layout')}: ${(err as Error).message}`, { cause: err });
  }
  let version: unknown;
  try {
    version = (JSON.parse(marker) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (typeof version !== 'string' || !version.startsWith('1.')) throw new CakeError('registry', `${dir}: unsupported OCI layout version ${JSON.stringify(version)}`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, 'index.json'));
  } catch (err) {
    throw new CakeError('registry', `${dir} has no readable index.json: ${(err as Error).message}`, { cause: err });
  }
  const index = parseManifest(bytes, MEDIA.ociIndex);
  if (index.kind !== 'index') throw new CakeError('registry', `${dir}/index.json is not an image index`);
  return index;
}

/** Tags of a layout, in index order. */
export function layoutTags(index: ImageIndex): string[] {
  return index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
}

/** containerd's (and `docker save`'s) full image name beside a short ref.name. */
const CONTAINERD_NAME = 'io.containerd.image.name';

/**
 * The index entry for `tag`, or the only entry when no tag is given. `tag` is matched as skopeo
 * does (the ref.name exactly) and then as the name it normalizes to (`app:1` finds podman save's
 * `docker.io/library/app:1`, and containerd's full name beside a short ref.name), the way
 * docker-archive RepoTags are; `@N` is the N-th entry (from 0). Throws 'not-found' listing the
 * tags there are.
 */
export function findLayoutEntry(dir: string, index: ImageIndex, tag: string | undefined, what = `oci:${dir}`): Descriptor {
  const tags = layoutTags(index);
  const listed = tags.length > 0 ? `its tags: ${tags.join(', ')}` : 'it has no tagged images';
  if (tag === undefined) {
    if (index.manifests.length === 1) return index.manifests[0]!;
    throw new CakeError('usage', `${what} holds ${index.manifests.length} images; name one with ${what}:TAG`, { hint: listed });
  }
  if (/^@\d+$/.test(tag)) {
    const e = index.manifests[Number(tag.slice(1))];
    if (e === undefined) throw new CakeError('not-found', `${what} has no image ${tag}: it holds ${index.manifests.length}`, { hint: `an index is @0 to @${index.manifests.length - 1}; ${listed}` });
    return e;
  }
  let found = index.manifests.filter((d) => d.annotations?.[REF_NAME] === tag);
  const key = normalizedTag(tag);
  if (found.length === 0 && key !== undefined) {
    found = index.manifests.filter((d) => [d.annotations?.[REF_NAME], d.annotations?.[CONTAINERD_NAME]].some((n) => n !== undefined && normalizedTag(n) === key));
  }
  if (found.length === 0) throw new CakeError('not-found', `${what} has no image tagged ${tag}${key !== undefined && key !== tag ? ` (${key})` : ''}`, { hint: `${listed}; or name an image by position (${what}:@0)` });
  return found[found.length - 1]!;
}

/**
 * Reads a small blob of the layout, verified against its descriptor (size and sha256).
 */
export function readLayoutBlob(dir: string, desc: Descriptor, maxBytes: number): Buffer {
  if (desc.size > maxBytes) throw new CakeError('registry', `blob ${desc.digest} in ${dir} is ${desc.size} bytes, more than the ${maxBytes} allowed for it`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(layoutBlobPath(dir, desc.digest));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new CakeError('not-found', `blob ${desc.digest} is missing from the OCI layout ${dir}`, { hint: 'the layout is incomplete; copy the image into it again' });
    throw err;
  }
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (digest !== desc.digest || bytes.length !== desc.size) {
    throw new CakeError('digest-mismatch', `blob ${desc.digest} in ${dir} does not match its digest (got ${digest}, ${bytes.length} bytes)`, { hint: 'the layout is corrupt; nothing was installed' });
  }
  return bytes;
}

function writeAtomic(file: string, data: Buffer | string): void {
  writeFileAtomic(file, data);
}

/**
 * Writes images into a layout: creates it when missing (an existing one is extended), stores
 * blobs by digest, and tags manifests in index.json (a tag moves to its new manifest). Not safe
 * against another writer of the same layout at the same time.
 */
export class LayoutWriter {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    const marker = join(dir, 'oci-layout');
    if (!existsSync(marker)) writeAtomic(marker, '{"imageLayoutVersion":"1.0.0"}');
    if (!existsSync(join(dir, 'index.json'))) writeAtomic(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [] }));
  }

  /** Stores bytes as a blob; returns its descriptor fields. */
  putBytes(bytes: Buffer): { digest: string; size: number } {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const path = layoutBlobPath(this.dir, digest);
    if (!existsSync(path)) writeAtomic(path, bytes);
    return { digest, size: bytes.length };
  }

  /** Copies a verified file (e.g. a store blob) in as `digest`. */
  putFile(file: string, digest: string): void {
    const path = layoutBlobPath(this.dir, digest);
    if (existsSync(path) && statSync(path).size === statSync(file).size) return;
    const tmp = tmpSibling(path);
    copyFileSync(file, tmp);
    renameSync(tmp, path);
  }

  /** Adds `desc` to index.json, tagged `tag` (removing the tag from any other entry). */
  tag(desc: Descriptor, tag: string): void {
    const index = readLayoutIndex(this.dir);
    const kept = index.manifests.filter((d) => d.annotations?.[REF_NAME] !== tag);
    kept.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: tag } });
    writeAtomic(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: kept }));
  }
}
