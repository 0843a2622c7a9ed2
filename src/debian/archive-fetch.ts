/**
 * Verified downloads of archive files into the blob store, shared by the index and .deb paths of
 * archive-client.ts: one lock per blob (two cake processes never download the same file twice at
 * once), a resumable part file named by the hash, and a fallback URL on 404 (a by-hash path a
 * mirror does not have yet → the plain path, which the same hash then checks).
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decompress } from '../archive/decompress.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { BlobStore } from '../store/blobs.js';
import { withLock } from '../store/lock.js';
import type { CakePaths } from '../store/paths.js';
import type { IndexEntry } from './release.js';

export interface FetchStats {
  /** Blobs downloaded (not found in the store). */
  downloads: number;
  /** Bytes received, InRelease files included. */
  bytes: number;
}

export interface FetchContext {
  http: HttpClient;
  blobs: BlobStore;
  paths: CakePaths;
  logger: Logger;
  signal?: AbortSignal | undefined;
  /** Fail instead of downloading a blob the store lacks. */
  offline: boolean;
  stats: FetchStats;
}

export interface BlobRequest {
  /** Tried in order; the next one only after a 404. */
  urls: string[];
  sha256: string;
  size: number;
  /** For messages: "bash (pool/main/b/bash/…)". */
  label: string;
}

/**
 * The store path of the blob `sha256`, downloading it first when the store lacks it (verified
 * by size and sha256 before it enters the store). Idempotent and safe between processes.
 */
export async function fetchBlob(ctx: FetchContext, req: BlobRequest): Promise<{ path: string; downloaded: boolean }> {
  if (ctx.blobs.has(req.sha256)) return { path: ctx.blobs.path(req.sha256), downloaded: false };
  if (ctx.offline) {
    throw new CakeError('not-found', `${req.label} is not in the store and offline mode is on`, { hint: 'run once with network access first' });
  }
  ctx.blobs.init();
  const lock = join(ctx.paths.locks, `blob-${req.sha256}.lock`);
  return withLock(lock, { what: `the download of ${req.label}`, signal: ctx.signal }, async () => {
    if (ctx.blobs.has(req.sha256)) return { path: ctx.blobs.path(req.sha256), downloaded: false };
    const part = join(ctx.paths.tmp, `${req.sha256}.part`);
    for (let i = 0; ; i++) {
      const url = req.urls[i] as string;
      try {
        const r = await ctx.http.download(url, part, { expectedSha256: req.sha256, expectedSize: req.size, signal: ctx.signal });
        ctx.stats.downloads++;
        ctx.stats.bytes += r.size;
        break;
      } catch (err) {
        const notFound = err instanceof CakeError && err.code === 'http' && / 404\b/.test(err.message);
        if (!notFound || i + 1 >= req.urls.length) throw err;
        ctx.logger.debug(`${url}: 404, trying ${req.urls[i + 1] ?? ''}`);
      }
    }
    return { path: ctx.blobs.adopt(part, req.sha256), downloaded: true };
  });
}

export interface IndexRequest {
  urls: string[];
  /** The compressed (or plain) file the Release lists, as chosen by indexEntry(). */
  entry: IndexEntry;
  /** The Release's sha256 of the uncompressed index, when it lists one. */
  plainSha256?: string | undefined;
  label: string;
}

/**
 * The text of a Packages index. The compressed file is fetched into the store (verified); its
 * decompressed form is also kept in the store when the Release lists its hash, so a warm load
 * is a plain read with no decompression.
 */
export async function readIndexBlob(ctx: FetchContext, req: IndexRequest): Promise<string> {
  const { entry, plainSha256 } = req;
  if (plainSha256 !== undefined && ctx.blobs.has(plainSha256)) return readFileSync(ctx.blobs.path(plainSha256), 'utf8');
  const { path } = await fetchBlob(ctx, { urls: req.urls, sha256: entry.sha256, size: entry.size, label: req.label });
  if (entry.compression === 'none') return readFileSync(path, 'utf8');
  const { stream } = await decompress(createReadStream(path));
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    chunks.push(chunk);
  }
  const plain = Buffer.concat(chunks);
  if (plainSha256 !== undefined) {
    const got = hash.digest('hex');
    if (got !== plainSha256) {
      throw new CakeError('digest-mismatch', `${req.label}: decompressed index has sha256 ${got}, the Release says ${plainSha256}`, {
        hint: 'the archive is inconsistent (mid-update?): try again later or use another mirror',
      });
    }
    if (!ctx.blobs.has(plainSha256)) {
      const tmp = ctx.blobs.tmpPath('index');
      writeFileSync(tmp, plain);
      ctx.blobs.adopt(tmp, plainSha256);
    }
  }
  return plain.toString('utf8');
}
