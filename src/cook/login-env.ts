/**
 * The env's variables (`config.env`: recipe `env:` and `path:` steps, `cake add --nix`, an image's
 * Env) written into the tree for login shells and logins, which do not start from cake's
 * environment: `cake enter` runs `bash -l`, whose /etc/profile (Debian's) resets PATH, and a baked
 * image's logins (console, sshd) start from PAM. Two files carry them:
 * - `/etc/profile.d/cake-env.sh`: `export K='V'` for every variable; /etc/profile of Debian,
 *   Ubuntu, Alpine, Fedora and Arch sources /etc/profile.d/*.sh after setting its own PATH.
 * - `/etc/environment` (read by pam_env at login, also for `ssh host cmd`): `K="V"` lines for the
 *   same variables, replacing earlier lines of those names and keeping every other line. A value
 *   holding `"`, `\` or a newline cannot be written there and is left to the profile script.
 * Both are written as root's, mode 0644, through the host-side writers (add-apply.ts), so they are
 * part of the tree and of its hash.
 */
import { readFileSync } from 'node:fs';
import type { OwnershipTable } from '../model/ownership.js';
import { resolveIn } from './closure.js';
import { writeGuestFile } from './add-apply.js';

export const PROFILE_SCRIPT = '/etc/profile.d/cake-env.sh';
export const ENVIRONMENT_FILE = '/etc/environment';

function split(env: readonly string[]): [string, string][] {
  const out = new Map<string, string>();
  for (const kv of env) {
    const i = kv.indexOf('=');
    if (i > 0) out.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return [...out];
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The text of /etc/profile.d/cake-env.sh for `env`. Pure. */
export function profileScript(env: readonly string[]): string {
  const lines = ['# Written by cake: the env\'s variables (recipe env: and path: steps, cake add --nix) for', '# login shells, whose /etc/profile resets PATH. Change the recipe rather than this file.'];
  for (const [k, v] of split(env)) lines.push(`export ${k}=${shQuote(v)}`);
  return lines.join('\n') + '\n';
}

/** `old` (the env's /etc/environment, or '') with the variables of `env` set. Pure. */
export function environmentFile(old: string, env: readonly string[]): string {
  const vars = split(env).filter(([, v]) => !/["\\\n]/.test(v));
  const names = new Set(vars.map(([k]) => k));
  const kept = old.split('\n').filter((l, i, all) => !(i === all.length - 1 && l === '')).filter((l) => {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=/.exec(l);
    return !(m && names.has(m[1]!));
  });
  return [...kept, ...vars.map(([k, v]) => `${k}="${v}"`)].join('\n') + '\n';
}

/** Writes both files into the env at `root` for `env` (nothing when `env` is empty). */
export async function writeLoginEnv(root: string, table: OwnershipTable, env: readonly string[] | undefined): Promise<void> {
  if (!env || env.length === 0) return;
  await writeGuestFile(root, table, PROFILE_SCRIPT, { content: profileScript(env) }, 0o644);
  const cur = await resolveIn(root, ENVIRONMENT_FILE);
  const old = cur.kind === 'file' ? readFileSync(cur.hostPath, 'utf8') : '';
  const next = environmentFile(old, env);
  if (next !== old) await writeGuestFile(root, table, ENVIRONMENT_FILE, { content: next }, 0o644);
}
