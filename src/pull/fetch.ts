import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../store/atomic-write.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withLock } from '../store/lock.js';
import type { SourceDeps } from './deps.js';

export interface FetchedBlob {
  sha256: string;
  path: string;
  /** False when the store already had it. */
  downloaded: boolean;
  size: number;
}

function urlKey(url: string): string {
  return createHash('sha256').update(url).digest('hex');
}

/**
 * Brings `url` into the blob store, verified against `sha256` when given. One download per
 * blob however many cake processes ask at once: the fetch is serialised on a lock keyed by the
 * URL, and the loser finds the blob present. Partial downloads live at a stable path in the
 * store's tmp dir so that a later run resumes them. An unpinned URL is remembered (URL → digest,
 * in the cache) so that pulling it again reuses the blob.
 */
export async function fetchToStore(deps: SourceDeps, url: string, sha256: string | undefined, label: string): Promise<FetchedBlob> {
  const key = urlKey(url);
  const indexFile = join(deps.paths.cache, 'urls', `${key}.json`);
  const known = (): string | undefined => {
    if (sha256) return sha256;
    try {
      return (JSON.parse(readFileSync(indexFile, 'utf8')) as { sha256: string }).sha256;
    } catch {
      return undefined;
    }
  };
  const cached = known();
  if (cached && deps.blobs.has(cached)) {
    return { sha256: cached, path: deps.blobs.path(cached), downloaded: false, size: deps.blobs.size(cached) };
  }
  deps.blobs.init();
  return withLock(
    join(deps.paths.locks, `fetch-${key}.lock`),
    { what: `download of ${url}`, signal: deps.signal, onWait: () => deps.logger.info(`waiting for another cake process downloading ${url}`) },
    async () => {
      const again = known();
      if (again && deps.blobs.has(again)) {
        return { sha256: again, path: deps.blobs.path(again), downloaded: false, size: deps.blobs.size(again) };
      }
      const part = join(deps.paths.tmp, `download-${key}.part`);
      const http = await deps.http();
      deps.logger.info(`downloading ${url}`);
      const result = await http.download(url, part, {
        ...(sha256 ? { expectedSha256: sha256 } : {}),
        signal: deps.signal,
        progressLabel: label,
      });
      const path = deps.blobs.adopt(part, result.sha256);
      if (!sha256) {
        mkdirSync(join(deps.paths.cache, 'urls'), { recursive: true });
        writeFileAtomic(indexFile, JSON.stringify({ url, sha256: result.sha256, fetched: new Date().toISOString() }) + '\n');
      }
      return { sha256: result.sha256, path, downloaded: true, size: result.size };
    },
  );
}
