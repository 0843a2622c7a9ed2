import { readdirSync } from 'node:fs';
import { CakeError } from '../model/errors.js';
import type { EnvRecord } from '../store/env-record.js';
import { closest } from './argv.js';
import type { CliContext } from './context.js';

/** The names of the envs in the store (cheap: a directory listing, no record is read). */
export function envNames(ctx: Pick<CliContext, 'paths'>): string[] {
  try {
    return readdirSync(ctx.paths.envs).filter((e) => !e.startsWith('.'));
  } catch {
    return [];
  }
}

/**
 * The record of env `name`; a missing one is the store's not-found error, with "did you mean"
 * naming the one close env name when there is one (`cake exec debain` → debian).
 */
export function requireEnv(ctx: Pick<CliContext, 'envs' | 'paths'>, name: string, extra: readonly string[] = []): EnvRecord {
  try {
    return ctx.envs.get(name);
  } catch (err) {
    if (!(err instanceof CakeError) || err.code !== 'not-found') throw err;
    const near = closest(name, [...envNames(ctx), ...extra]);
    if (near === undefined) throw err;
    throw new CakeError('not-found', `no environment named ${name}`, { hint: `did you mean ${near}? (\`cake list\` shows your environments)`, cause: err });
  }
}
