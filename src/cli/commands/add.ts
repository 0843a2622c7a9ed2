import { resolve } from 'node:path';
import { UsageError } from '../../model/errors.js';
import { withLock } from '../../store/lock.js';
import { applyPlan } from '../../cook/add-apply.js';
import { mergePlans, planFromTree, planNix, type AddPlan } from '../../cook/add-plan.js';
import { prependPath } from '../../cook/guest-config.js';
import { writeLoginEnv } from '../../cook/login-env.js';
import type { CliContext } from '../context.js';
import type { CommandOptions } from '../command-types.js';

/**
 * `cake add NAME --from OTHER:/PATH... --nix STOREPATH... --host /PATH...`: copies programs with
 * their runtime closure into env NAME (see src/cook/add-plan.ts for where things go). Everything
 * is planned (and every source checked) before the env is touched. Directories put on PATH reach
 * login shells too (src/cook/login-env.ts).
 */
export async function addCommand(ctx: CliContext, args: string[], opts: CommandOptions<'add'>): Promise<number> {
  const [name] = args;
  if (!name) throw new UsageError('add needs an environment name', 'cake add NAME --from OTHER:/PATH');
  const from = opts.from ?? [];
  const nix = opts.nix ?? [];
  const host = opts.host ?? [];
  if (from.length + nix.length + host.length === 0) {
    throw new UsageError('add needs something to add', `cake add ${name} --from OTHER:/PATH, --nix /nix/store/PATH or --host /PATH`);
  }
  const target = ctx.envs.get(name);
  const plans: AddPlan[] = [];
  for (const f of from) {
    const sep = f.indexOf(':/');
    if (sep <= 0) throw new UsageError(`invalid --from ${JSON.stringify(f)}: expected OTHER:/PATH`, `cake add ${name} --from debian:/usr/bin/gawk`);
    const other = f.slice(0, sep);
    const rec = ctx.envs.get(other);
    plans.push(await planFromTree({ label: other, root: ctx.envs.rootfs(other), ownership: rec.ownership }, f.slice(sep + 1), target.arch, { signal: ctx.signal, logger: ctx.logger }));
  }
  for (const h of host) plans.push(await planFromTree({ label: 'host', root: '/' }, resolve(h), target.arch, { signal: ctx.signal, logger: ctx.logger }));
  if (nix.length > 0) plans.push((await planNix(nix, { hostEnv: ctx.env, logger: ctx.logger, signal: ctx.signal })).plan);
  const plan = mergePlans(plans);
  await withLock(ctx.envs.lockPath(name), { what: `environment ${name}`, signal: ctx.signal }, async () => {
    const record = ctx.envs.get(name);
    await applyPlan(ctx.envs.rootfs(name), record.ownership, plan, name);
    if (plan.pathDirs.length > 0) {
      record.config = { ...record.config, env: prependPath(record.config?.env, plan.pathDirs) };
      await writeLoginEnv(ctx.envs.rootfs(name), record.ownership, record.config.env);
    }
    ctx.envs.writeRecord(ctx.envs.dir(name), record);
  });
  for (const line of plan.summary) ctx.logger.info(`added ${line}`);
  return 0;
}
