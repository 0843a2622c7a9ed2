/**
 * Local files given to `cake pull ./FILE` / `cake import FILE`: told apart by their first member
 * names, read through the decompressor. Image archives written by `podman save` / `docker save`
 * (docker-archive: manifest.json, repositories, `<hex>.tar` or `<hex>/layer.tar` layers;
 * oci-archive: oci-layout, index.json, blobs/) are unpacked into a temporary dir (through the safe
 * extractor) and pulled as the image they hold; anything else that is a tar is a root filesystem;
 * a file that is not a tar at all is refused, naming what it is and what is accepted.
 */
import { createReadStream, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { decompress } from '../archive/decompress.js';
import { extractTar } from '../archive/extract.js';
import { removeTreeSync } from '../archive/remove-tree.js';
import { BLOCK, checksumOk } from '../archive/tar-header.js';
import { TarReader } from '../archive/tar-reader.js';
import { CakeError } from '../model/errors.js';
import type { Platform } from '../model/platform.js';
import type { EnvRecord } from '../store/env-record.js';
import type { SourceDeps } from './deps.js';
import { pullImage, type ImagePullOutcome } from './registry.js';

export type ImageArchiveKind = 'docker-archive' | 'oci-archive';

const OCI = /^(oci-layout|index\.json|blobs(\/.*)?)$/;
const DOCKER = /^(manifest\.json|repositories|[0-9a-f]{64}(\.json|\.tar|\/.*)?)$/;

/** What {@link probeLocalFile} found: a tar (a root filesystem or an image archive), or something else, described. */
export type LocalFileKind = { kind: 'rootfs' | ImageArchiveKind } | { kind: 'other'; found: string };

/** The hint of a refused local file: what cake accepts. */
export const LOCAL_FILE_FORMS =
  'cake pull and cake import take a tar of a root filesystem (plain, .gz, .xz, .zst, .bz2, …; as `docker export` or `tar -C DIR -cf rootfs.tar .` write it) or an image archive (docker-archive or oci-archive, as `docker save` / `podman save` write it)';

/** The kind of image archive `names` (the first member names) belong to, if any. */
export function classifyMembers(names: readonly string[]): ImageArchiveKind | undefined {
  const clean = names.map((n) => n.replace(/^(\.\/)+/, '').replace(/\/$/, '')).filter((n) => n !== '' && n !== '.');
  if (clean.length === 0) return undefined;
  if (clean.includes('oci-layout') || (clean.every((n) => OCI.test(n) || n === 'manifest.json') && clean.some((n) => n.startsWith('blobs')))) return 'oci-archive';
  if (clean.every((n) => DOCKER.test(n))) return 'docker-archive';
  return undefined;
}

/** "text starting "hello"", "binary data (89 50 4e 47 …)", "an empty file", for a file that is not a tar. */
export function describeContent(head: Buffer, compression: string): string {
  const packed = compression === 'none' ? '' : `${compression}-compressed `;
  if (head.length === 0) return compression === 'none' ? 'an empty file' : `${packed}nothing (empty once decompressed)`;
  const sample = head.subarray(0, 64);
  const printable = sample.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 0xc0 || (b >= 0x80 && b < 0xc0));
  if (printable) return `${packed}text starting ${JSON.stringify(sample.toString('utf8').split('\n')[0]!.slice(0, 40))}`;
  return `${packed}binary data (${[...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')} …), not a tar archive`;
}

/**
 * Reads the start of a (possibly compressed) local file, up to `max` member names or the first
 * that is not image-archive-like. Never throws: a file it cannot open or decompress (missing,
 * unreadable, a missing host tool) is left to the extraction, which reports why.
 */
export async function probeLocalFile(file: string, max = 8): Promise<LocalFileKind> {
  const names: string[] = [];
  const input = createReadStream(file);
  let compression = 'none';
  let head = Buffer.alloc(0);
  let notTar = false;
  try {
    const d = await decompress(input);
    compression = d.compression;
    const reader = new TarReader((e) => {
      names.push(Buffer.from(e.path, 'latin1').toString('utf8'));
      return null;
    });
    let bytes = 0;
    let ended = true;
    for await (const chunk of d.stream) {
      if (head.length < 512) head = Buffer.concat([head, (chunk as Buffer).subarray(0, 512 - head.length)]);
      try {
        reader.write(chunk as Buffer);
      } catch {
        // a first header that checks out is a tar with a bad entry (a sparse map that does not add
        // up, a malformed number): the extraction refuses it naming the entry and the reason
        notTar = names.length === 0 && !(head.length >= BLOCK && checksumOk(head, 0));
        ended = false;
        break;
      }
      bytes += (chunk as Buffer).length;
      // stop as soon as the names say "not an image archive": a rootfs is read once, by the extraction
      if (names.length >= max || (names.length > 0 && classifyMembers(names) === undefined) || bytes > 64 << 20) {
        ended = false;
        break;
      }
    }
    if (ended && names.length === 0) {
      // nothing at all, or less than one header; a tar of end blocks only is an empty root (GNU tar accepts it)
      try {
        reader.end();
        notTar = head.length === 0;
      } catch {
        notTar = true;
      }
    }
    d.stream.destroy();
  } catch (err) {
    // zip, 7z, RPM, .deb…: the decompressor names them
    if (err instanceof CakeError && err.code === 'bad-archive') return { kind: 'other', found: err.message.replace(/, not a tar archive$/, '').replace(/^this is /, '') };
    return { kind: 'rootfs' };
  } finally {
    input.destroy();
  }
  if (notTar) return { kind: 'other', found: describeContent(head, compression) };
  return { kind: classifyMembers(names) ?? 'rootfs' };
}

/** What an image archive's env records besides the image: the source and the file. */
export interface ImageArchivePull {
  kind: ImageArchiveKind;
  /** The archive as given (absolute). */
  file: string;
  /** `docker-archive:FILE:REF`'s REF: a reference in the archive's RepoTags, or `@N`. */
  imageRef?: string;
  source: EnvRecord['source'];
  name: string;
  platform: Platform;
  platformExplicit: boolean;
  force?: boolean;
}

/**
 * Pulls the image of an oci-archive or docker-archive file: unpacked into a temporary dir under
 * the store's tmp (removed whatever happens), then read as an OCI layout or a docker-archive
 * image, verified and applied like a registry image.
 */
export async function pullImageArchive(deps: SourceDeps, req: ImageArchivePull): Promise<ImagePullOutcome> {
  deps.blobs.init();
  const dir = mkdtempSync(join(deps.paths.tmp, `${req.kind}-`));
  const what = `${req.kind}:${req.file}`;
  try {
    const input = createReadStream(req.file);
    const { stream } = await decompress(input);
    await extractTar(stream, { root: dir, ownership: {}, signal: deps.signal });
    const image =
      req.kind === 'oci-archive'
        ? { kind: 'oci-layout' as const, dir, what, ...(req.imageRef !== undefined ? { tag: req.imageRef } : {}) }
        : { kind: 'docker-archive' as const, dir, what, ...(req.imageRef !== undefined ? { imageRef: req.imageRef } : {}) };
    return await pullImage(deps, {
      image,
      source: req.source,
      name: req.name,
      platform: req.platform,
      platformExplicit: req.platformExplicit,
      ...(req.force ? { force: true } : {}),
      resolved: { file: req.file, ...(req.imageRef !== undefined ? { imageRef: req.imageRef } : {}) },
    });
  } finally {
    removeTreeSync(dir);
  }
}
