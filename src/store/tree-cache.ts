/**
 * Finished trees by build key: a build whose inputs are all pinned (a Debian bootstrap: the
 * InRelease digests, every .deb's digest, the variant and request, cake's bootstrap format) is
 * stored once as a tar blob with its real ownership, and an identical build later is an
 * extraction instead of hours of dpkg. The blob lives in the blob store (an env lists it in
 * `resolved.blobs`, so `cake gc` keeps it while an env uses it and drops it after); the index is
 * `<cache>/trees/<key>.json` (atomic writes), pointing at the blob. The key is the whole input, so
 * reusing an entry is always correct; an entry whose blob is gone is a miss.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { decompress, compressStream } from '../archive/decompress.js';
import { extractTar, type ExtractStats } from '../archive/extract.js';
import type { OwnershipTable } from '../model/ownership.js';
import { writeTar } from '../archive/tar-writer.js';
import { CakeError } from '../model/errors.js';
import { writeFileAtomic } from './atomic-write.js';
import type { BlobStore } from './blobs.js';
import type { CakePaths } from './paths.js';

const FORMAT = 1;

export interface TreeEntry {
  format: typeof FORMAT;
  key: string;
  /** The tar blob's digest. */
  sha256: string;
  size: number;
  compression: 'zstd' | 'none';
  /** Entries in the tar. */
  entries: number;
  created: string;
}

export class TreeCache {
  constructor(
    private readonly paths: CakePaths,
    private readonly blobs: BlobStore,
  ) {}

  private file(key: string): string {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new CakeError('internal', `invalid tree key ${key}`);
    return join(this.paths.cache, 'trees', `${key}.json`);
  }

  /** The entry for `key` when its blob is in the store. */
  lookup(key: string): TreeEntry | undefined {
    let e: TreeEntry;
    try {
      e = JSON.parse(readFileSync(this.file(key), 'utf8')) as TreeEntry;
    } catch {
      return undefined;
    }
    if (e.format !== FORMAT || e.key !== key || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) return undefined;
    return this.blobs.has(e.sha256) ? e : undefined;
  }

  /**
   * Stores the tree at `root` (with `ownership`: the tar carries real uids, gids, modes and the
   * device nodes of the table) under `key`. `compression` zstd needs the host's zstd; without it
   * the tar is stored plain. The tree must not change meanwhile. Idempotent.
   */
  async store(key: string, root: string, ownership: OwnershipTable, o: { compression?: 'zstd' | 'none'; signal?: AbortSignal } = {}): Promise<TreeEntry> {
    let compression = o.compression ?? 'zstd';
    let written: { sha256: string; size: number; entries: number };
    try {
      written = await this.writeBlob(root, ownership, compression, o.signal);
    } catch (err) {
      if (!(err instanceof CakeError) || err.code !== 'missing-tool' || compression === 'none') throw err;
      compression = 'none';
      written = await this.writeBlob(root, ownership, compression, o.signal);
    }
    const entry: TreeEntry = { format: FORMAT, key, sha256: written.sha256, size: written.size, compression, entries: written.entries, created: new Date().toISOString() };
    const file = this.file(key);
    mkdirSync(join(this.paths.cache, 'trees'), { recursive: true });
    writeFileAtomic(file, JSON.stringify(entry, null, 1) + '\n');
    return entry;
  }

  private async writeBlob(root: string, ownership: OwnershipTable, compression: 'zstd' | 'none', signal?: AbortSignal): Promise<{ sha256: string; size: number; entries: number }> {
    const packed = compressStream(compression);
    const ingest = this.blobs.ingest(packed as unknown as Readable, undefined, 'a finished tree');
    const [{ entries }, blob] = await Promise.all([writeTar(root, ownership, packed, signal ? { signal } : {}), ingest]);
    return { ...blob, entries };
  }

  /**
   * Extracts the entry's tree into the empty directory `root` with the safe extractor and returns
   * its ownership table. The blob is hashed on the way: a mismatch is CakeError('digest-mismatch')
   * after extraction (the caller discards `root`).
   */
  async restore(entry: TreeEntry, root: string, signal?: AbortSignal): Promise<{ ownership: OwnershipTable; stats: ExtractStats }> {
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    const raw = createReadStream(this.blobs.path(entry.sha256), signal ? { signal } : {});
    raw.once('error', (err) => hashing.destroy(err));
    raw.pipe(hashing);
    const { stream } = await decompress(hashing);
    const ownership: OwnershipTable = {};
    const stats = await extractTar(stream, { root, ownership, ...(signal ? { signal } : {}) });
    const got = hash.digest('hex');
    if (got !== entry.sha256) throw new CakeError('digest-mismatch', `the cached tree ${entry.sha256} is damaged (sha256 ${got})`);
    return { ownership, stats };
  }

  /** Drops the entry (a damaged or unusable blob). */
  forget(key: string): void {
    rmSync(this.file(key), { force: true });
  }

  /** Removes index entries whose blob is gone (after `cake gc`). Returns how many. */
  prune(): number {
    let n = 0;
    for (const name of readdirSafe(join(this.paths.cache, 'trees'))) {
      const m = /^([0-9a-f]{64})\.json$/.exec(name);
      if (m === null || this.lookup(m[1]!) !== undefined) continue;
      this.forget(m[1]!);
      n++;
    }
    return n;
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
