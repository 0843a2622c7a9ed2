import { resolve } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { parseSourceDateEpoch } from '../../model/source-date-epoch.js';
import { exportEnv, type ExportTarget } from '../../oci/export-env.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../logger.js';

function compressionFor(file: string): 'gzip' | 'zstd' | 'xz' | 'none' {
  if (/\.(tar\.gz|tgz)$/.test(file)) return 'gzip';
  if (/\.(tar\.zst|tzst)$/.test(file)) return 'zstd';
  if (/\.(tar\.xz|txz)$/.test(file)) return 'xz';
  if (/\.tar$/.test(file)) return 'none';
  throw new UsageError(`cannot tell the format of ${file}`, 'name the file .tar, .tar.gz, .tar.xz or .tar.zst (or - for a plain tar on stdout)');
}

/**
 * `cake export NAME FILE` (or `-`: a plain tar on stdout, like `docker export`, never to a
 * terminal): the env as a tarball with its real ownership; an interrupted export leaves no partial
 * file (see src/oci/export-env.ts). SOURCE_DATE_EPOCH, when set, fixes every mtime.
 */
export async function exportCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [name, fileArg] = args;
  if (!name || !fileArg) throw new UsageError('export needs NAME and FILE', 'cake export NAME FILE.tar[.gz|.xz|.zst], or - for stdout');
  let target: ExportTarget;
  if (fileArg === '-') {
    if (process.stdout.isTTY) throw new UsageError('refusing to write a tarball to a terminal', `redirect it: cake export ${name} - > ${name}.tar`);
    target = { kind: 'stream', stream: process.stdout, what: 'stdout' };
  } else {
    const file = resolve(fileArg);
    target = { kind: 'file', file, compression: compressionFor(file) };
  }
  const sde = parseSourceDateEpoch(ctx.env.SOURCE_DATE_EPOCH);
  const stats = await exportEnv({ paths: ctx.paths, envs: ctx.envs, signal: ctx.signal }, name, target, sde !== undefined ? { sourceDateEpoch: sde } : {});
  ctx.logger.info(`exported ${name}: ${stats.entries} entries, ${formatBytes(stats.bytes)} to ${target.kind === 'file' ? target.file : 'stdout'}`);
  return 0;
}
