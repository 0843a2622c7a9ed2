import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { CakeError, isErrno } from '../model/errors.js';
import { decompress } from '../archive/decompress.js';
import { extractTar } from '../archive/extract.js';
import type { OwnershipTable } from '../model/ownership.js';
import type { EnvRecord } from '../store/env-record.js';
import { HashingStream } from './hashing.js';
import type { SourceDeps } from './deps.js';

export interface TarballInstall {
  name: string;
  /** The compressed or plain tarball on disk (a verified blob or a user's file). */
  file: string;
  /** Verified after extraction, before the env appears (for user files; blobs are verified already). */
  expectedSha256?: string;
  strip?: number;
  force?: boolean;
  arch: string;
  source: EnvRecord['source'];
  resolved: Record<string, unknown>;
  /** When the env exists and this says it is already what was asked for, keep it (idempotent pull). */
  reuse?: (existing: EnvRecord) => boolean;
}

/**
 * Creates env `name` from a tarball: decompress → safe extract into a staging dir while hashing
 * the input in the same pass → verify the digest → rename into place. A mismatch, a hostile
 * entry or an interrupt removes the staging dir: nothing is installed.
 */
export async function installTarball(deps: SourceDeps, job: TarballInstall): Promise<EnvRecord> {
  let size: number;
  try {
    size = statSync(job.file).size;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      throw new CakeError('not-found', `no such file: ${job.file}`, { hint: 'check the path; relative paths start from the current directory' });
    }
    throw err;
  }
  return deps.envs.create(
    job.name,
    async ({ rootfs }) => {
      const hashing = new HashingStream();
      const input: Readable = createReadStream(job.file);
      const bar = deps.logger.progress(`unpacking ${job.name}`, size, 'bytes');
      hashing.on('data', () => bar.update(hashing.bytes));
      const ownership: OwnershipTable = {};
      // The hashing stream feeds the decompressor; both run while extraction consumes.
      const fed = pipeline(input, hashing, { signal: deps.signal });
      try {
        const { stream } = await decompress(hashing);
        const stats = await extractTar(stream, {
          root: rootfs,
          ownership,
          ...(job.strip ? { stripComponents: job.strip } : {}),
          signal: deps.signal,
          onNote: (m) => deps.logger.info(`note: ${m}`),
        });
        await fed;
        const sha256 = hashing.digest();
        if (job.expectedSha256 && sha256 !== job.expectedSha256) {
          throw new CakeError('digest-mismatch', `sha256 mismatch for ${job.file}: expected ${job.expectedSha256}, got ${sha256}`, {
            hint: 'the file is not the one pinned; nothing was installed',
          });
        }
        return {
          version: 1,
          name: job.name,
          created: new Date().toISOString(),
          source: job.source,
          resolved: { ...job.resolved, sha256 },
          arch: job.arch,
          stats: { ...stats },
          ownership,
        } satisfies EnvRecord;
      } catch (err) {
        input.destroy();
        hashing.destroy();
        await fed.catch(() => {});
        throw err;
      } finally {
        bar.stop();
      }
    },
    { ...(job.force ? { force: true } : {}), ...(job.reuse ? { reuse: job.reuse } : {}), signal: deps.signal, onWait: () => deps.logger.info(`waiting for another cake process working on ${job.name}`) },
  );
}
