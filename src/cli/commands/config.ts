import { UsageError } from '../../model/errors.js';
import { CONFIG_KEYS, configKey, configValue, parseConfigValue } from '../config.js';
import type { CliContext } from '../context.js';
import type { CommandOptions } from '../command-types.js';

function show(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? v.join(',') : v;
}

/**
 * `cake config list [--json] | get KEY | set KEY VALUE | unset KEY`. `get` prints the effective
 * value (a CAKE_* variable wins over the file) and exits 1 when the key is unset; `list` shows
 * every key with its value and where it comes from. Writes go through `conf` (atomic).
 */
export async function configCommand(ctx: CliContext, args: string[], opts: CommandOptions<'config'>): Promise<number> {
  const [verb = 'list', key, ...rest] = args;
  if (verb === 'list') {
    const rows = CONFIG_KEYS.map((k) => ({ key: k.key, ...configValue(k.key, ctx.env, ctx.config), env: k.envVar, description: k.description }));
    if (opts.json) {
      ctx.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return 0;
    }
    for (const r of rows) ctx.stdout.write(`${r.key}=${show(r.value)}${r.from === 'env' ? `  (from ${r.env})` : ''}\n`);
    return 0;
  }
  if (!key) throw new UsageError(`config ${verb} needs a KEY`, `the keys are: ${CONFIG_KEYS.map((k) => k.key).join(', ')}`);
  const k = configKey(key);
  if (verb === 'get') {
    const v = configValue(key, ctx.env, ctx.config).value;
    if (v === undefined) return 1;
    ctx.stdout.write(show(v) + '\n');
    return 0;
  }
  if (verb !== 'set' && verb !== 'unset') throw new UsageError(`unknown config action: ${verb}`, 'cake config list | get KEY | set KEY VALUE | unset KEY');
  const { default: Conf } = await import('conf');
  const store = new Conf<Record<string, unknown>>({ cwd: ctx.paths.config, configName: 'config', projectSuffix: '' });
  if (verb === 'unset') {
    store.delete(key);
    return 0;
  }
  if (rest.length !== 1) throw new UsageError(`config set ${key} needs one VALUE`, `cake config set ${key} VALUE`);
  store.set(key, parseConfigValue(k, rest[0]!));
  if (ctx.env[k.envVar]) ctx.logger.warn(`${k.envVar} is set in this shell and overrides the file`);
  return 0;
}
