import { join } from 'node:path';
import { EnvStore } from '../../store/envs.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../logger.js';

/** `cake list [--json]`: one line per env on stdout (name, source, arch, created, size). */
export async function listCommand(ctx: CliContext, _args: string[], opts: Record<string, unknown>): Promise<number> {
  const records = ctx.envs.list();
  if (opts.json) {
    const rows = records.map((r) => ({
      name: r.name,
      source: r.source,
      arch: r.arch,
      created: r.created,
      resolved: r.resolved,
      ...(r.treeSha256 ? { treeSha256: r.treeSha256 } : {}),
      path: join(ctx.envs.dir(r.name), 'rootfs'),
    }));
    ctx.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  if (records.length === 0) {
    ctx.logger.info('no environments yet; create one with `cake pull alpine` or see `cake distros`');
    return 0;
  }
  const rows = records.map((r) => [
    r.name,
    r.source.ref,
    r.arch,
    r.created.replace(/\.\d+Z$/, 'Z'),
    formatBytes(EnvStore.diskUsage(ctx.envs.rootfs(r.name))),
  ]);
  const header = ['NAME', 'SOURCE', 'ARCH', 'CREATED', 'SIZE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cols: string[]): string => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  ctx.stdout.write(line(header) + '\n');
  for (const row of rows) ctx.stdout.write(line(row) + '\n');
  return 0;
}
