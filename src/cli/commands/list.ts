import { EnvStore } from '../../store/envs.js';
import type { EnvRecord } from '../../store/env-record.js';
import type { CliContext } from '../context.js';
import { requireEnv } from '../env-names.js';
import { formatBytes } from '../logger.js';
import type { CommandOptions } from '../command-types.js';

/** One env as `list --json` and `inspect --json` show it (a stable, documented shape). */
export interface EnvView {
  name: string;
  source: { kind: string; ref: string };
  /** The distro and release it was made from, when it came from a distro definition. */
  distro?: string;
  release?: string;
  arch: string;
  created: string;
  /** ISO time of the last `enter`/`exec`, when there was one. */
  lastUsed?: string;
  /** True while a cake command runs in it. */
  inUse: boolean;
  /** Bytes of its files (apparent sizes). */
  size: number;
  path: string;
  /** The tree hash (what a recipe's expect_sha256 and `cake pull --expect-sha256` pin), when recorded. */
  treeSha256?: string;
  /** As recorded, with `request` (a Debian/Ubuntu build's request) as JSON, not a string. */
  resolved: Record<string, unknown>;
  config?: EnvRecord['config'];
}

/** The view of one record (reads its tree for the size). */
export function envView(ctx: CliContext, r: EnvRecord): EnvView {
  const resolved: Record<string, unknown> = { ...r.resolved };
  if (typeof resolved.request === 'string') {
    try {
      resolved.request = JSON.parse(resolved.request) as unknown;
    } catch {
      // not JSON: keep the text
    }
  }
  const usage = ctx.envs.usage(r.name, r.created);
  return {
    name: r.name,
    source: r.source,
    ...(typeof r.resolved.distro === 'string' ? { distro: r.resolved.distro } : {}),
    ...(typeof r.resolved.release === 'string' ? { release: r.resolved.release } : {}),
    arch: r.arch,
    created: r.created,
    ...(usage.lastUsed ? { lastUsed: usage.lastUsed } : {}),
    inUse: usage.usedBy.length > 0,
    size: EnvStore.diskUsage(ctx.envs.rootfs(r.name)),
    path: ctx.envs.rootfs(r.name),
    resolved,
    ...(r.treeSha256 ? { treeSha256: r.treeSha256 } : {}),
    ...(r.config ? { config: r.config } : {}),
  };
}

function ago(iso: string | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return 'just now';
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/**
 * `cake list [--json] [-q]`: one line per env on stdout (name, source, arch, created, last used,
 * size; `*` after the name while it is in use); `-q` prints only the names (for scripts and the
 * shell completions).
 */
export async function listCommand(ctx: CliContext, _args: string[], opts: CommandOptions<'list'>): Promise<number> {
  const { records, bad } = ctx.envs.survey();
  // one bad record is reported and skipped; the others are listed
  for (const b of bad) ctx.logger.warn(`${b.problem} (skipped; \`cake rm ${b.name}\` removes it)`);
  if (opts.quiet) {
    for (const r of records) ctx.stdout.write(`${r.name}\n`);
    return 0;
  }
  if (opts.json) {
    ctx.stdout.write(JSON.stringify(records.map((r) => envView(ctx, r)), null, 2) + '\n');
    return 0;
  }
  if (records.length === 0) {
    ctx.logger.info('no environments yet; create one with `cake pull alpine` or see `cake distros`');
    return 0;
  }
  const rows = records.map((r) => {
    const v = envView(ctx, r);
    return [v.name + (v.inUse ? ' *' : ''), r.source.ref, r.arch, r.created.replace(/\.\d+Z$/, 'Z'), ago(v.lastUsed), formatBytes(v.size)];
  });
  const header = ['NAME', 'SOURCE', 'ARCH', 'CREATED', 'LAST USED', 'SIZE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cols: string[]): string => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  ctx.stdout.write(line(header) + '\n');
  for (const row of rows) ctx.stdout.write(line(row) + '\n');
  if (records.some((r) => envView(ctx, r).inUse)) ctx.logger.info('* in use by a running cake command');
  return 0;
}

/** `cake inspect NAME [--json]`: everything cake knows about one env. */
export async function inspectCommand(ctx: CliContext, args: string[], opts: CommandOptions<'inspect'>): Promise<number> {
  const [name] = args;
  const v = envView(ctx, requireEnv(ctx, name!));
  if (opts.json) {
    ctx.stdout.write(JSON.stringify(v, null, 2) + '\n');
    return 0;
  }
  const rows: [string, string][] = [
    ['name', v.name],
    ['source', `${v.source.ref} (${v.source.kind})`],
    ...(v.distro ? [['distro', `${v.distro}${v.release ? ` ${v.release}` : ''}`] as [string, string]] : []),
    ['arch', v.arch],
    ['created', v.created],
    ['last used', v.lastUsed ? `${v.lastUsed} (${ago(v.lastUsed)})` : 'never'],
    ['in use', v.inUse ? 'yes' : 'no'],
    ['size', formatBytes(v.size)],
    ['path', v.path],
  ];
  if (v.treeSha256) rows.push(['tree', `sha256:${v.treeSha256}`]);
  if (v.config?.cmd || v.config?.entrypoint) rows.push(['command', [...(v.config.entrypoint ?? []), ...(v.config.cmd ?? [])].join(' ')]);
  if (v.config?.user) rows.push(['user', v.config.user]);
  if (v.config?.workingDir) rows.push(['workdir', v.config.workingDir]);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, val] of rows) ctx.stdout.write(`${k.padEnd(width)}  ${val}\n`);
  return 0;
}
