/**
 * Recognises image archives written by `podman save` / `docker save` (docker-archive: manifest.json,
 * repositories, `<hex>.tar` or `<hex>/layer.tar` layers; oci-archive: oci-layout, index.json,
 * blobs/) when `cake pull ./FILE.tar` is given one, so that it is not unpacked as a root filesystem
 * of 7 metadata files. Decided from the first member names, read through the decompressor.
 */
import { createReadStream, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { decompress } from '../archive/decompress.js';
import { extractTar } from '../archive/extract.js';
import { removeTreeSync } from '../archive/remove-tree.js';
import { TarReader } from '../archive/tar-reader.js';

export type ImageArchiveKind = 'docker-archive' | 'oci-archive';

const OCI = /^(oci-layout|index\.json|blobs(\/.*)?)$/;
const DOCKER = /^(manifest\.json|repositories|[0-9a-f]{64}(\.json|\.tar|\/.*)?)$/;

/** The kind of image archive `names` (the first member names) belong to, if any. */
export function classifyMembers(names: readonly string[]): ImageArchiveKind | undefined {
  const clean = names.map((n) => n.replace(/^(\.\/)+/, '').replace(/\/$/, '')).filter((n) => n !== '' && n !== '.');
  if (clean.length === 0) return undefined;
  if (clean.includes('oci-layout') || (clean.every((n) => OCI.test(n) || n === 'manifest.json') && clean.some((n) => n.startsWith('blobs')))) return 'oci-archive';
  if (clean.every((n) => DOCKER.test(n))) return 'docker-archive';
  return undefined;
}

/** Reads up to `max` member names from the start of a (possibly compressed) tar file, stopping at the first that is not image-archive-like; never throws. */
export async function firstMemberNames(file: string, max = 8): Promise<string[]> {
  const names: string[] = [];
  const input = createReadStream(file);
  try {
    const { stream } = await decompress(input);
    const reader = new TarReader((e) => {
      names.push(Buffer.from(e.path, 'latin1').toString('utf8'));
      return null;
    });
    let bytes = 0;
    for await (const chunk of stream) {
      reader.write(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      // stop as soon as the names say "not an image archive": a rootfs is read once, by the extraction
      if (names.length >= max || (names.length > 0 && classifyMembers(names) === undefined) || bytes > 64 << 20) break;
    }
    stream.destroy();
  } catch {
    // not readable as a tar: the real extraction reports why
  } finally {
    input.destroy();
  }
  return names;
}

/**
 * Unpacks an oci-archive into a temporary OCI layout under `tmpDir` (through the safe extractor),
 * runs `use(dir)` on it and removes it whatever happens.
 */
export async function withUnpackedLayout<T>(file: string, tmpDir: string, signal: AbortSignal | undefined, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpDir, 'oci-archive-'));
  try {
    const input = createReadStream(file);
    const { stream } = await decompress(input);
    await extractTar(stream, { root: dir, ownership: {}, ...(signal ? { signal } : {}) });
    return await use(dir);
  } finally {
    removeTreeSync(dir);
  }
}
