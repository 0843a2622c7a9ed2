/** A host process to start: program, arguments and its complete environment. */
export interface HostCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Splits the dynamic-loader variables (LD_PRELOAD, LD_LIBRARY_PATH, ...) out of a guest
 * environment. Host helpers (proot, unshare, mount) run with the guest environment on their way
 * into the guest, and a guest LD_PRELOAD would be loaded into them from the HOST's filesystem; so
 * when the guest has an `env` program these are set by it, inside the guest, last. Pure.
 */
export function splitLoaderVars(env: Record<string, string>, guestEnvProgram: string | undefined): {
  outer: Record<string, string>;
  inner: string[];
} {
  const loader = Object.keys(env).filter((k) => k.startsWith('LD_'));
  if (loader.length === 0 || guestEnvProgram === undefined) return { outer: { ...env }, inner: [] };
  const outer: Record<string, string> = {};
  const assignments: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('LD_')) assignments.push(`${k}=${v}`);
    else outer[k] = v;
  }
  return { outer, inner: [guestEnvProgram, ...assignments] };
}

/** Quotes a word for POSIX sh: always single quotes, `'` as `'\''`. Pure. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
