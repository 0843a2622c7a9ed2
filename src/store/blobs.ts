import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { CakeError } from '../model/errors.js';
import { isSha256Hex } from '../model/digest.js';
import type { CakePaths } from './paths.js';

/**
 * Content-addressed, immutable blobs named by their sha256. A blob is written to the store's tmp
 * directory (same filesystem), hashed while streaming, verified, then renamed into place; a reader
 * therefore never sees a partial blob. A rename that finds the blob already present means another
 * process won the race: that is fine, the content is the same by construction.
 */
export class BlobStore {
  constructor(private readonly paths: CakePaths) {}

  init(): void {
    mkdirSync(this.paths.blobs, { recursive: true });
    mkdirSync(this.paths.tmp, { recursive: true });
  }

  path(hex: string): string {
    if (!isSha256Hex(hex)) throw new CakeError('bad-digest', `invalid blob digest: ${hex}`);
    return join(this.paths.blobs, hex);
  }

  has(hex: string): boolean {
    return existsSync(this.path(hex));
  }

  size(hex: string): number {
    return statSync(this.path(hex)).size;
  }

  /** A fresh path in the store's tmp dir; the caller removes or adopts it. */
  tmpPath(label: string): string {
    this.init();
    return join(this.paths.tmp, `${label}.${process.pid}.${randomBytes(4).toString('hex')}`);
  }

  /**
   * Moves a complete, already verified file (in the store's tmp dir) to its blob path.
   * Idempotent: if the blob exists, the file is removed instead.
   */
  adopt(file: string, hex: string): string {
    this.init();
    const dest = this.path(hex);
    if (existsSync(dest)) {
      rmSync(file, { force: true });
    } else {
      renameSync(file, dest);
    }
    return dest;
  }

  /**
   * Stores a stream, hashing it on the way; verifies `expected` (hex) when given. The caller owns
   * `input` only until this resolves or rejects; on failure nothing is left in the store.
   */
  async ingest(input: Readable, expected?: string, what = 'blob'): Promise<{ sha256: string; size: number }> {
    const tmp = this.tmpPath('ingest');
    const hash = createHash('sha256');
    let size = 0;
    input.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    try {
      await pipeline(input, createWriteStream(tmp, { mode: 0o644 }));
      const sha256 = hash.digest('hex');
      if (expected !== undefined && sha256 !== expected) {
        throw new CakeError('digest-mismatch', `sha256 mismatch for ${what}: expected ${expected}, got ${sha256}`, {
          hint: 'the data is not what was pinned; check the source or the pinned sha256',
        });
      }
      this.adopt(tmp, sha256);
      return { sha256, size };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Hashes an existing file (not necessarily in the store). */
  static async hashFile(file: string): Promise<string> {
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), hash);
    return hash.digest('hex');
  }

  list(): string[] {
    if (!existsSync(this.paths.blobs)) return [];
    return readdirSync(this.paths.blobs).filter(isSha256Hex).sort();
  }

  remove(hex: string): void {
    rmSync(this.path(hex), { force: true });
  }
}
