import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { noteOutside, tmpSibling } from '../../store/atomic-write.js';
import { resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CakeError, UsageError, isErrno } from '../../model/errors.js';
import { compressStream } from '../../archive/decompress.js';
import { writeTar } from '../../archive/tar-writer.js';
import { withLock } from '../../store/lock.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../logger.js';

function compressionFor(file: string): 'gzip' | 'zstd' | 'xz' | 'none' {
  if (/\.(tar\.gz|tgz)$/.test(file)) return 'gzip';
  if (/\.(tar\.zst|tzst)$/.test(file)) return 'zstd';
  if (/\.(tar\.xz|txz)$/.test(file)) return 'xz';
  if (/\.tar$/.test(file)) return 'none';
  throw new UsageError(`cannot tell the format of ${file}`, 'name the file .tar, .tar.gz, .tar.xz or .tar.zst (or - for a plain tar on stdout)');
}

/** `cake export NAME -`: a plain tar on stdout, like `docker export`; never to a terminal. */
async function exportToStdout(ctx: CliContext, name: string): Promise<number> {
  if (process.stdout.isTTY) throw new UsageError('refusing to write a tarball to a terminal', `redirect it: cake export ${name} - > ${name}.tar`);
  const record = ctx.envs.get(name);
  const sde = ctx.env.SOURCE_DATE_EPOCH;
  await withLock(ctx.envs.lockPath(name), { what: `environment ${name}`, signal: ctx.signal }, async () => {
    const tar = new PassThrough();
    const written = pipeline(tar, process.stdout, { signal: ctx.signal, end: false });
    const [stats] = await Promise.all([
      writeTar(ctx.envs.rootfs(name), record.ownership, tar, { ...(sde && /^\d+$/.test(sde) ? { sourceDateEpoch: Number(sde) } : {}), signal: ctx.signal }),
      written,
    ]).catch((err: unknown) => {
      if (isErrno(err, 'EPIPE')) throw new CakeError('io', `stdout was closed before the tarball of ${name} was complete`, { hint: 'the reading program stopped early; what it read is truncated' });
      throw err;
    });
    ctx.logger.info(`exported ${name}: ${stats.entries} entries, ${formatBytes(stats.bytes)} to stdout`);
  });
  return 0;
}

/**
 * `cake export NAME FILE` (or `-`, stdout): the env as a tarball with its real ownership (from the
 * ownership table), written to a temporary beside FILE then renamed, so an interrupted export leaves
 * no partial file (and `cake gc` removes the temporary of a killed one).
 * SOURCE_DATE_EPOCH, when set, fixes every mtime.
 */
export async function exportCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [name, fileArg] = args;
  if (!name || !fileArg) throw new UsageError('export needs NAME and FILE', 'cake export NAME FILE.tar[.gz|.xz|.zst], or - for stdout');
  if (fileArg === '-') return exportToStdout(ctx, name);
  const file = resolve(fileArg);
  const kind = compressionFor(file);
  const record = ctx.envs.get(name);
  const sde = ctx.env.SOURCE_DATE_EPOCH;
  // one temp-name scheme (src/store/atomic-write.ts), noted in the store so gc removes it after a kill
  const tmp = tmpSibling(file);
  mkdirSync(ctx.paths.tmp, { recursive: true });
  await withLock(ctx.envs.lockPath(name), { what: `environment ${name}`, signal: ctx.signal }, () => noteOutside(ctx.paths.tmp, tmp, async () => {
    try {
      const tar = new PassThrough();
      const out = createWriteStream(tmp, { mode: 0o644 });
      const written = pipeline(tar, compressStream(kind), out, { signal: ctx.signal });
      // Both sides awaited together, so a failure on either side is handled (writeTar ends `tar`).
      const [stats] = await Promise.all([
        writeTar(ctx.envs.rootfs(name), record.ownership, tar, {
          ...(sde && /^\d+$/.test(sde) ? { sourceDateEpoch: Number(sde) } : {}),
          signal: ctx.signal,
        }),
        written,
      ]);
      renameSync(tmp, file);
      ctx.logger.info(`exported ${name}: ${stats.entries} entries, ${formatBytes(stats.bytes)} to ${file}`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }));
  return 0;
}
