import { GUEST_ENV_HELPER } from './run-dir.js';

/** A host process to start: program, arguments and its complete environment. */
export interface HostCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The environment of every host helper (unshare, mount, dumb-init, proot, ...): cake's, never the
 * guest's. Guest variables reach no host process: they are applied by GUEST_ENV_HELPER inside the
 * guest, after the root switch (guestCommandWords).
 */
export const HOST_HELPER_ENV: Readonly<Record<string, string>> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/**
 * The last hop into the guest: `GUEST_ENV_HELPER env -i K=V... ARGV...`. The helper is the host's
 * static busybox, made visible inside the guest (userns-argv.ts, proot-argv.ts); being static it
 * loads no library, so no variable of the guest (LD_PRELOAD, LD_LIBRARY_PATH, GLIBC_TUNABLES...)
 * acts on anything but the guest program it then executes. `argv[0]` must be a path (see
 * resolveCommand in guest-path.ts): busybox would run its own applet for a bare name. Pure.
 */
export function guestCommandWords(env: Record<string, string>, argv: readonly string[]): string[] {
  return [GUEST_ENV_HELPER, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
}

/** Quotes a word for POSIX sh: always single quotes, `'` as `'\''`. Pure. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
