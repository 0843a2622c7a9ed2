/**
 * The guest variables an env carries (`config.env`, OCI style `K=V` strings): what the recipe
 * steps `env` and `path` and `cake add --nix` change, and what enter, exec and run steps start
 * with. Pure.
 */
import { DEFAULT_PATH } from '../run/plan.js';

/** `config.env` with `key` set to `value` (replacing an earlier value, keeping the order). */
export function setVar(env: readonly string[] | undefined, key: string, value: string): string[] {
  const out = (env ?? []).filter((kv) => kv.slice(0, kv.indexOf('=')) !== key);
  out.push(`${key}=${value}`);
  return out;
}

export function getVar(env: readonly string[] | undefined, key: string): string | undefined {
  const kv = (env ?? []).findLast((e) => e.startsWith(key + '='));
  return kv?.slice(key.length + 1);
}

/** `config.env` with `dirs` first on PATH (in the order given; each once), the rest of PATH after. */
export function prependPath(env: readonly string[] | undefined, dirs: readonly string[]): string[] {
  const rest = (getVar(env, 'PATH') ?? DEFAULT_PATH).split(':').filter((d) => d !== '' && !dirs.includes(d));
  return setVar(env, 'PATH', [...new Set(dirs)].concat(rest).join(':'));
}
