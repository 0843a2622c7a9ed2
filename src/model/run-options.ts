import { CakeError, UsageError } from './errors.js';

/** Which engine runs a command: `auto` picks userns when it passes the self-check, else proot. */
export type EngineName = 'auto' | 'userns' | 'proot';

/** A host path made visible in the guest. `src` is a host path, `dst` an absolute guest path. */
export interface Bind {
  src: string;
  dst: string;
  /** `SRC:DST:ro`: the guest cannot write through this bind. */
  readonly?: boolean;
}

/** The RUN OPTIONS of `cake enter` and `cake exec` (see DESIGN "Command contract"). */
export interface RunOptions {
  /** User `--bind SRC[:DST]`; SRC must exist when the command runs; DST defaults to SRC. */
  binds: Bind[];
  /** Guest path; default: image WorkingDir, else HOME of the user, else `/`. */
  cwd?: string;
  /** `--env K=V`, applied last (over the defaults and the image's own variables). */
  env: Record<string, string>;
  /** Guest user name or `uid[:gid]`; default root (uid 0). */
  user?: string;
  /** No $HOME and no host /tmp in the guest. */
  isolated: boolean;
  /** The guest's hostname (userns: a private UTS namespace; /etc/hosts resolves it). */
  hostname?: string;
  engine: EngineName;
  /** True for `enter`: the child gets the terminal. False for `exec`: it inherits cake's fds. */
  tty: boolean;
}

export const ENGINE_NAMES: readonly EngineName[] = ['auto', 'userns', 'proot'];

/** Parses `--engine`; a UsageError (exit 2) for anything but auto, userns, proot. */
export function parseEngineName(text: string): EngineName {
  if ((ENGINE_NAMES as readonly string[]).includes(text)) return text as EngineName;
  throw new UsageError(`invalid engine: ${JSON.stringify(text)}`, 'use --engine auto, userns or proot');
}

/**
 * Parses `SRC[:DST]`. The text is split at its last `:` so a host path may contain colons; DST
 * must be absolute (it is a guest path). SRC may be relative: it is resolved against cake's
 * working directory when the command runs (and DST, when omitted, becomes that absolute path).
 * Pure: whether SRC exists is checked at run time.
 */
export function parseBind(text: string): Bind {
  if (text === '' || text.includes('\0')) throw bindError(text, 'empty');
  // `SRC:DST:ro` / `SRC:DST:rw` (docker's spelling): the mode is a third field after a guest path.
  const mode = /^(.*:\/.*):(ro|rw)$/.exec(text);
  if (mode) return { ...parseBind(mode[1]!), ...(mode[2] === 'ro' ? { readonly: true } : {}) };
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { src: text, dst: text };
  const src = text.slice(0, colon);
  const dst = text.slice(colon + 1);
  if (src === '') throw bindError(text, 'the source is empty');
  if (!dst.startsWith('/')) throw bindError(text, 'the destination must be an absolute guest path');
  return { src, dst: normalizeGuestPath(dst) };
}

function bindError(text: string, why: string): CakeError {
  return new UsageError(`invalid --bind ${JSON.stringify(text)}: ${why}`, 'use --bind SRC, --bind SRC:/GUEST/PATH or --bind SRC:/GUEST/PATH:ro');
}

const ENV_KEY = /^[^=\0\s]+$/;

/** Parses `K=V` (V may be empty and may contain `=`); a UsageError (exit 2) otherwise. */
export function parseEnvAssignment(text: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !ENV_KEY.test(key) || text.includes('\0')) {
    throw new UsageError(`invalid --env ${JSON.stringify(text)}: expected NAME=VALUE`, 'use --env NAME=VALUE');
  }
  return [key, text.slice(eq + 1)];
}

/** Collapses `//`, `.` and `..` of an absolute guest path (never above `/`). Pure. */
export function normalizeGuestPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

/** Default RunOptions for library callers (cook steps, tests): root, no binds, not isolated. */
export function defaultRunOptions(over: Partial<RunOptions> = {}): RunOptions {
  return { binds: [], env: {}, isolated: false, engine: 'auto', tty: false, ...over };
}
