/**
 * `cake export`'s use case: the env as a plain tarball, the same deterministic tar as the layer
 * `cake push` makes (push.ts): sorted entries, real ownership from the ownership table, mtimes
 * fixed by SOURCE_DATE_EPOCH when given. Read under the env's lock, after a killed run's leftovers
 * are swept from the env (so cake's mount points never reach the tarball). A file is written to a
 * temporary beside it (the one atomic-write scheme, noted in the store so gc removes it after a
 * kill) and renamed into place, so an interrupted export leaves no partial file.
 */
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressStream } from '../archive/decompress.js';
import { writeTar } from '../archive/tar-writer.js';
import { CakeError, isErrno } from '../model/errors.js';
import { engineCacheDir, sweepRuns } from '../run/run-dir.js';
import { noteOutside, tmpSibling } from '../store/atomic-write.js';
import type { EnvStore } from '../store/envs.js';
import { withLock } from '../store/lock.js';
import type { CakePaths } from '../store/paths.js';

export interface ExportEnvDeps {
  paths: CakePaths;
  envs: EnvStore;
  signal: AbortSignal;
}

/** A file (compressed as asked) or an open stream (plain tar; left open for its owner). */
export type ExportTarget = { kind: 'file'; file: string; compression: 'gzip' | 'zstd' | 'xz' | 'none' } | { kind: 'stream'; stream: Writable; what: string };

export interface ExportResult {
  entries: number;
  bytes: number;
}

/** Writes env `name` as a tarball to `target`. */
export async function exportEnv(deps: ExportEnvDeps, name: string, target: ExportTarget, opts: { sourceDateEpoch?: number } = {}): Promise<ExportResult> {
  const record = deps.envs.get(name);
  sweepRuns(engineCacheDir(deps.paths));
  const tarOpts = { ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}), signal: deps.signal };
  const lock = { what: `environment ${name}`, signal: deps.signal };
  if (target.kind === 'stream') {
    return withLock(deps.envs.lockPath(name), lock, async () => {
      const tar = new PassThrough();
      const written = pipeline(tar, target.stream, { signal: deps.signal, end: false });
      const [stats] = await Promise.all([writeTar(deps.envs.rootfs(name), record.ownership, tar, tarOpts), written]).catch((err: unknown) => {
        if (isErrno(err, 'EPIPE')) throw new CakeError('io', `${target.what} was closed before the tarball of ${name} was complete`, { hint: 'the reading program stopped early; what it read is truncated' });
        throw err;
      });
      return stats;
    });
  }
  const tmp = tmpSibling(target.file);
  mkdirSync(deps.paths.tmp, { recursive: true });
  return withLock(deps.envs.lockPath(name), lock, () =>
    noteOutside(deps.paths.tmp, tmp, async () => {
      try {
        const tar = new PassThrough();
        const written = pipeline(tar, compressStream(target.compression), createWriteStream(tmp, { mode: 0o644 }), { signal: deps.signal });
        // Both sides awaited together, so a failure on either side is handled (writeTar ends `tar`).
        const [stats] = await Promise.all([writeTar(deps.envs.rootfs(name), record.ownership, tar, tarOpts), written]);
        renameSync(tmp, target.file);
        return stats;
      } finally {
        rmSync(tmp, { force: true });
      }
    }),
  );
}
