import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CakeError } from '../model/errors.js';

/** Searched after the host PATH: an unprivileged user's PATH often lacks the sbin directories. */
const FALLBACK_DIRS = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Finds an executable regular file named `name` on the host PATH (then the standard dirs). */
export async function findHostProgram(name: string, hostEnv: Record<string, string | undefined>): Promise<string | undefined> {
  const dirs = [...(hostEnv.PATH ?? '').split(':').filter((d) => d.startsWith('/')), ...FALLBACK_DIRS];
  for (const dir of new Set(dirs)) {
    const p = join(dir, name);
    try {
      if ((await stat(p)).isFile()) {
        await access(p, constants.X_OK);
        return p;
      }
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Like findHostProgram, but a missing program is a CakeError('missing-tool') with an install hint. */
export async function requireHostProgram(name: string, hostEnv: Record<string, string | undefined>, pkg: string): Promise<string> {
  const found = await findHostProgram(name, hostEnv);
  if (found === undefined) {
    throw new CakeError('missing-tool', `${name} is not installed`, { hint: `sudo apt-get install ${pkg}` });
  }
  return found;
}

/** Host programs of the userns engine; missing ones are CakeError('missing-tool'). */
export async function findUsernsTools(hostEnv: Record<string, string | undefined>, unshare?: string): Promise<{ unshare: string; sh: string; mount: string; env: string; hostname?: string }> {
  const hostname = await findHostProgram('hostname', hostEnv);
  return {
    ...(hostname !== undefined ? { hostname } : {}),
    unshare: unshare ?? (await requireHostProgram('unshare', hostEnv, 'util-linux')),
    sh: await requireHostProgram('sh', hostEnv, 'dash'),
    mount: await requireHostProgram('mount', hostEnv, 'mount'),
    env: await requireHostProgram('env', hostEnv, 'coreutils'),
  };
}
