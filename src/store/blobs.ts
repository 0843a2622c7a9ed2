import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { CakeError } from '../model/errors.js';
import { isSha256Hex } from '../model/digest.js';
import type { CakePaths } from './paths.js';
import { writeFileAtomic } from './atomic-write.js';
import { hashFileSync } from './tree-hash.js';
import { holdLease, liveLeases, type Lease } from './lease.js';
import { lockHolder } from './lock.js';
import type { Owner } from './owner.js';

/** The store's leases (a process using blobs) and gc's lock: see {@link BlobStore.hold}. */
export function storeLeaseDir(paths: CakePaths): string {
  return join(paths.locks, 'store');
}
export function gcLockPath(paths: CakePaths): string {
  return join(paths.locks, 'gc.lock');
}

let lease: Lease | undefined;

/**
 * Content-addressed, immutable blobs named by their sha256. A blob is written to the store's tmp
 * directory (same filesystem), hashed while streaming, verified, then renamed into place; a reader
 * therefore never sees a partial blob. A rename that finds the blob already present means another
 * process won the race: that is fine, the content is the same by construction.
 *
 * A blob is trusted only while it is what was stored: its size, mtime and inode are recorded when
 * it is adopted (`store/verified/<hex>`); {@link has} compares them (cheap) and, on a mismatch or
 * without a record, hashes the blob; a damaged blob is deleted, so the caller fetches it again.
 *
 * A process that uses the store holds a lease on it (`locks/store/`, from its first use to its
 * exit), so that `cake gc` keeps every blob while a pull may be between downloading a blob and
 * recording the env that refers to it; a process that starts while gc deletes waits for it.
 */
export class BlobStore {
  constructor(private readonly paths: CakePaths) {}

  /** Takes this process's lease on the store (once), waiting while a gc deletes blobs. */
  hold(): void {
    if (lease !== undefined) return;
    lease = holdLease(storeLeaseDir(this.paths), 'store');
    const gc = gcLockPath(this.paths);
    const until = Date.now() + 120_000;
    for (;;) {
      const h = lockHolder(gc);
      if (h === undefined || !h.alive || h.pid === process.pid || Date.now() > until) return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); // a short, synchronous pause
    }
  }

  /** Live processes other than this one holding a lease on the store. */
  users(): Owner[] {
    return liveLeases(storeLeaseDir(this.paths), 'store').filter((o) => o.pid !== process.pid);
  }

  init(): void {
    this.hold();
    mkdirSync(this.paths.blobs, { recursive: true });
    mkdirSync(this.paths.tmp, { recursive: true });
  }

  path(hex: string): string {
    if (!isSha256Hex(hex)) throw new CakeError('bad-digest', `invalid blob digest: ${hex}`);
    this.hold();
    return join(this.paths.blobs, hex);
  }

  private verifiedFile(hex: string): string {
    return join(dirname(this.paths.blobs), '..', 'verified', hex);
  }

  /** Records what the blob looks like now (it was just verified). */
  private remember(hex: string): void {
    try {
      const st = statSync(this.path(hex));
      mkdirSync(dirname(this.verifiedFile(hex)), { recursive: true });
      writeFileAtomic(this.verifiedFile(hex), `${st.size} ${st.mtimeMs} ${st.ino}\n`);
    } catch {
      // no record: the next use hashes the blob
    }
  }

  /**
   * True when the blob is in the store and intact: size, mtime and inode as recorded, else its
   * sha256 is checked; a damaged blob is removed (false: fetch it again).
   */
  has(hex: string): boolean {
    const file = this.path(hex);
    let st;
    try {
      st = statSync(file);
    } catch {
      return false;
    }
    try {
      if (readFileSync(this.verifiedFile(hex), 'utf8').trim() === `${st.size} ${st.mtimeMs} ${st.ino}`) return true;
    } catch {
      // no record yet
    }
    if (hashFileSync(file) === hex) {
      this.remember(hex);
      return true;
    }
    process.stderr.write(`warning: the stored blob sha256:${hex} is damaged; it is fetched again\n`);
    this.remove(hex);
    return false;
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
    if (this.has(hex)) {
      rmSync(file, { force: true });
    } else {
      renameSync(file, dest);
      this.remember(hex);
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
    rmSync(this.verifiedFile(hex), { force: true });
  }
}
