import { join } from 'node:path';

/**
 * Where cake keeps its state. This and src/cli are the only modules that look at environment
 * variables, and this one only through the `env` argument it is given.
 *
 * - `CAKE_HOME` set: everything lives under it (`$CAKE_HOME/v1`, `$CAKE_HOME/cache/v1`, `$CAKE_HOME/config`).
 * - otherwise XDG: data in `$XDG_DATA_HOME/cake` (default ~/.local/share/cake), cache in
 *   `$XDG_CACHE_HOME/cake` (~/.cache/cake), config in `$XDG_CONFIG_HOME/cake` (~/.config/cake).
 *
 * The layout is versioned (`v1/`) so that a future layout can migrate.
 */
export interface CakePaths {
  /** The versioned data root (envs, store, locks). */
  data: string;
  /** Verified, content-addressed blobs: `blobs/<hex>`. */
  blobs: string;
  /** Staging area on the same filesystem as blobs and envs (renames are atomic). */
  tmp: string;
  /** `envs/<name>/{rootfs,env.json}`. */
  envs: string;
  /** Lock files (one per env, one per blob being fetched, one for the store index). */
  locks: string;
  /** Refetchable data: partial downloads, archive indices, self-check results. */
  cache: string;
  /** Configuration (for `conf`). */
  config: string;
}

export function resolvePaths(env: Record<string, string | undefined>): CakePaths {
  const cakeHome = env.CAKE_HOME;
  const home = env.HOME ?? '/';
  const dataRoot = cakeHome ?? join(env.XDG_DATA_HOME || join(home, '.local/share'), 'cake');
  const cacheRoot = cakeHome ? join(cakeHome, 'cache') : join(env.XDG_CACHE_HOME || join(home, '.cache'), 'cake');
  const configRoot = cakeHome ? join(cakeHome, 'config') : join(env.XDG_CONFIG_HOME || join(home, '.config'), 'cake');
  const data = join(dataRoot, 'v1');
  return {
    data,
    blobs: join(data, 'store/blobs/sha256'),
    tmp: join(data, 'store/tmp'),
    envs: join(data, 'envs'),
    locks: join(data, 'locks'),
    cache: join(cacheRoot, 'v1'),
    config: configRoot,
  };
}
