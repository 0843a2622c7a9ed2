import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { realpathSync, statSync } from 'node:fs';
import { elfRole, readElfFile } from '../archive/elf.js';
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

/**
 * The host's statically linked busybox (Debian's busybox-static): both engines show it inside the
 * guest as the env helper (command.ts), and the userns engine's setup runs in its shell. It must
 * be static: a dynamic one would load the guest's C library inside the guest. Resolved to its
 * real path (it is bound as a file).
 */
export async function findStaticBusybox(hostEnv: Record<string, string | undefined>): Promise<string> {
  const hint = 'sudo apt-get install busybox-static';
  const found = await findHostProgram('busybox', hostEnv);
  if (found === undefined) throw new CakeError('missing-tool', 'busybox is not installed (the engines need a static busybox)', { hint });
  const real = realpathSync(found);
  if (elfRoleOf(real) !== 'static-exe') throw new CakeError('missing-tool', `${real} is not a statically linked busybox (the engines need one)`, { hint });
  return real;
}

/** ELF roles read in this process, by path, size and mtime: a run asks for busybox more than once. */
const roles = new Map<string, string | undefined>();

function elfRoleOf(path: string): string | undefined {
  let key: string;
  try {
    const st = statSync(path);
    key = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  } catch {
    return undefined;
  }
  if (roles.has(key)) return roles.get(key);
  let role: string | undefined;
  try {
    const info = readElfFile(path);
    role = info === undefined ? undefined : elfRole(info);
  } catch {
    role = undefined;
  }
  roles.set(key, role);
  return role;
}

type UsernsTools = { unshare: string; setpriv: string; env: string; dumbInit: string; busybox: string };

/**
 * Lookups kept for the rest of the process, by program and PATH: engine selection and the launch
 * both ask for the userns tools. A failed lookup is not kept, so it is tried again.
 */
const lookups = new Map<string, Promise<string>>();

function once(what: string, hostEnv: Record<string, string | undefined>, find: () => Promise<string>): Promise<string> {
  const key = `${what}\0${hostEnv.PATH ?? ''}`;
  let found = lookups.get(key);
  if (found === undefined) {
    found = find();
    lookups.set(key, found);
    found.catch(() => lookups.delete(key));
  }
  return found;
}

/** Host programs of the userns engine; missing ones are CakeError('missing-tool'). */
export async function findUsernsTools(hostEnv: Record<string, string | undefined>, unshare?: string): Promise<UsernsTools> {
  const need = (name: string, pkg: string): Promise<string> => once(name, hostEnv, () => requireHostProgram(name, hostEnv, pkg));
  return {
    unshare: unshare ?? (await need('unshare', 'util-linux')),
    setpriv: await need('setpriv', 'util-linux'),
    env: await need('env', 'coreutils'),
    dumbInit: await need('dumb-init', 'dumb-init'),
    busybox: await once('static busybox', hostEnv, () => findStaticBusybox(hostEnv)),
  };
}
