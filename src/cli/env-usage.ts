import { mkdirSync, readdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateEnvName } from '../model/names.js';
import { pidAlive } from '../store/lock.js';
import type { CakePaths } from '../store/paths.js';

/**
 * Which envs are in use, and when each was last used, for `cake list` and `cake inspect`:
 * `enter`/`exec` put a file named after their pid into `<data>/usage/<name>/` for as long as
 * the command runs, and touch the directory, whose mtime is the last use. A killed cake's file
 * stays behind but names a dead pid, so it does not count. (Informational only: `rm`'s refusal
 * to remove an env in use is the store's business, under the env's lock.)
 */
function usageDir(paths: CakePaths, name: string): string {
  return join(paths.data, 'usage', validateEnvName(name));
}

/** Marks the env as used by this process until the returned function is called. Never throws. */
export function markInUse(paths: CakePaths, name: string): () => void {
  const dir = usageDir(paths, name);
  const file = join(dir, String(process.pid));
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, '');
    const now = new Date();
    utimesSync(dir, now, now);
  } catch {
    return () => {};
  }
  return () => {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

export interface EnvUsage {
  /** ISO time of the last enter/exec (since the env was created), if any. */
  lastUsed?: string;
  /** Pids of running cake commands in the env. */
  usedBy: number[];
}

/** The usage of an env created at `created` (older marks belong to a removed env of that name). */
export function envUsage(paths: CakePaths, name: string, created: string): EnvUsage {
  const dir = usageDir(paths, name);
  let entries: string[];
  let mtime: Date;
  try {
    entries = readdirSync(dir);
    mtime = statSync(dir).mtime;
  } catch {
    return { usedBy: [] };
  }
  const usedBy = entries.map(Number).filter((pid) => Number.isInteger(pid) && pid > 0 && pidAlive(pid));
  const fresh = mtime.getTime() >= Date.parse(created);
  return { ...(fresh ? { lastUsed: mtime.toISOString() } : {}), usedBy: fresh ? usedBy : [] };
}
