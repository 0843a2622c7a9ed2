import { join } from 'node:path';
import { loadDistros } from '../../store/distros.js';
import type { CliContext } from '../context.js';
import type { CommandOptions } from '../command-types.js';

/** `cake distros [--json]`: the definitions in distros/, with releases, aliases, arches and source kinds. */
export async function distrosCommand(ctx: CliContext, _args: string[], opts: CommandOptions<'distros'>): Promise<number> {
  const defs = await loadDistros(join(ctx.packageRoot, 'distros'));
  const rows = defs.map((d) => ({
    name: d.name,
    description: d.description,
    default: d.default,
    aliases: d.aliases,
    archiveAliases: d.archiveAliases ? [...d.archiveAliases.suites, ...(d.archiveAliases.lts ? [d.archiveAliases.lts] : [])] : [],
    releases: d.releases.map((r) => {
      const arches = new Set<string>();
      for (const s of r.sources) {
        if (s.kind === 'tarball') Object.keys(s.arch).forEach((a) => arches.add(a));
        else if (s.arch) s.arch.forEach((a) => arches.add(a));
      }
      return { name: r.name, aliases: r.aliases, arches: [...arches].sort(), sources: [...new Set(r.sources.map((s) => s.kind))] };
    }),
  }));
  if (opts.quiet) {
    for (const d of rows) ctx.stdout.write([d.name, ...d.aliases, ...d.releases.flatMap((r) => [r.name, ...r.aliases].map((n) => `${d.name}:${n}`))].join('\n') + '\n');
    return 0;
  }
  if (opts.json) {
    ctx.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  for (const d of rows) {
    ctx.stdout.write(`${d.name}${d.aliases.length ? ` (${d.aliases.join(', ')})` : ''} — ${d.description}\n`);
    for (const r of d.releases) {
      const mark = r.name === d.default ? '*' : ' ';
      const aliases = r.aliases.length ? ` (${r.aliases.join(', ')})` : '';
      ctx.stdout.write(`  ${mark} ${d.name}:${r.name}${aliases}  [${r.arches.join(', ')}]  via ${r.sources.join(', ')}\n`);
    }
    if (d.archiveAliases.length) ctx.stdout.write(`    ${d.archiveAliases.map((a) => `${d.name}:${a}`).join(', ')}: the release the archive names today\n`);
  }
  ctx.stdout.write('\n* default release; pull with `cake pull NAME[:RELEASE]`\n');
  return 0;
}
