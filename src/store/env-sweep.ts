/**
 * The leftovers in the envs directory: `.staging-<name>.<pid>.<rand>` and `.trash-<name>.<pid>.<rand>`
 * dirs of killed processes, and env dirs without env.json (skeletons) that nobody holds.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateEnvName } from '../model/names.js';
import { removeTree } from '../archive/remove-tree.js';
import { pidAlive } from './lock.js';

const STAGING = /^\.staging-(.+)\.(\d+)\.[0-9a-f]+$/;
const TRASH = /^\.trash-(.+)\.(\d+)\.[0-9a-f]+$/;

/**
 * Removes from `envsDir` the staging and trash dirs of processes that no longer run (the trash of
 * this process too), and with `skeletons` the env dirs without env.json for which `unheld(name)` is
 * true (no live cake holds its lock or a use lease). Never throws: what cannot be removed is listed
 * in `failed`.
 */
export async function sweepLeftovers(envsDir: string, opts: { skeletons?: boolean }, unheld: (name: string) => boolean): Promise<{ removed: number; failed: string[] }> {
  const failed: string[] = [];
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(envsDir);
  } catch {
    return { removed, failed };
  }
  for (const entry of names) {
    const m = STAGING.exec(entry) ?? TRASH.exec(entry);
    let doomed = false;
    if (m) {
      const pid = Number(m[2]);
      doomed = pid === process.pid ? TRASH.test(entry) : !pidAlive(pid);
    } else if (opts.skeletons && !entry.startsWith('.') && !existsSync(join(envsDir, entry, 'env.json'))) {
      doomed = skeletonFree(envsDir, entry, unheld);
    }
    if (!doomed) continue;
    try {
      await removeTree(join(envsDir, entry));
      removed++;
    } catch (err) {
      failed.push(`${entry}: ${(err as Error).message}`);
    }
  }
  return { removed, failed };
}

/** A dir without env.json is garbage when it is cake's (a valid env name) and `unheld`. */
function skeletonFree(envsDir: string, entry: string, unheld: (name: string) => boolean): boolean {
  try {
    validateEnvName(entry);
  } catch {
    return false; // not cake's
  }
  const st = lstatSync(join(envsDir, entry), { throwIfNoEntry: false });
  if (!st?.isDirectory()) return false;
  return unheld(entry);
}
