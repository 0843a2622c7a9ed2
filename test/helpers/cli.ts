import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type Options } from 'execa';

export const REPO = resolve(import.meta.dirname, '../..');
export const CAKE = join(REPO, 'bin/cake');
/** Downloaded fixtures survive between runs here (git-ignored). */
export const TEST_CACHE = join(REPO, 'test/.cache');

export interface CakeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fresh CAKE_HOME in a temp dir; `cleanup()` removes it whatever the modes inside. */
export function freshHome(prefix = 'cake-test-'): { home: string; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return {
    home,
    cleanup() {
      // Envs may hold dirs without u+w; cake rm handles that, but a failed test may not have.
      execa('chmod', ['-R', 'u+rwX', home], { reject: false }).finally(() => rmSync(home, { recursive: true, force: true }));
    },
  };
}

/** Runs the built CLI as a subprocess, like a user would. */
export async function cake(home: string, args: string[], opts: Options & { env?: Record<string, string> } = {}): Promise<CakeResult> {
  const r = await execa(CAKE, args, {
    reject: false,
    stdin: 'ignore',
    ...opts,
    env: { NO_COLOR: '1', ...opts.env, CAKE_HOME: home },
  });
  return { code: r.exitCode ?? (r.signal ? 128 : 1), stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
