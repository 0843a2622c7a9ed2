/**
 * The run defaults of an image cake pushes from an env that has none of its own (built from a
 * distro, a tarball or a recipe): `Cmd` is the env's login shell (root's shell in its
 * /etc/passwd, else /bin/bash or /bin/sh when present) and `Env` is the standard PATH, so
 * `podman run IMAGE` and `docker run IMAGE` start a shell as they do for distro images. An env
 * pulled from a registry keeps the image's own config (see completeImageDefaults).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageDefaults } from './push.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Reads the env's etc/passwd without following symlinks (it is guest-controlled); at most 1 MiB. */
function readPasswd(rootfs: string): string | undefined {
  const etc = lstatSync(join(rootfs, 'etc'), { throwIfNoEntry: false });
  if (!etc?.isDirectory()) return undefined;
  let fd: number;
  try {
    fd = openSync(join(rootfs, 'etc', 'passwd'), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(1 << 20);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

const exists = (rootfs: string, path: string): boolean => lstatSync(join(rootfs, path), { throwIfNoEntry: false }) !== undefined;

/** The defaults for an env without an image config of its own (see the module comment). */
export function envImageDefaults(rootfs: string): ImageDefaults {
  const root = readPasswd(rootfs)
    ?.split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === 'root' && f.length >= 7);
  const shell = root?.[6]?.trim();
  const candidates = [shell, '/bin/bash', '/bin/sh'].filter((s): s is string => typeof s === 'string' && /^\/[\w./+-]+$/.test(s) && !s.includes('..'));
  const cmd = candidates.find((s) => exists(rootfs, s));
  return { env: [DEFAULT_PATH], ...(cmd ? { cmd: [cmd] } : {}) };
}

/**
 * `own` (the env's image config, possibly partial: a recipe's `env:`) completed with the defaults:
 * a PATH when its Env has none, the login shell as Cmd when it has neither Cmd nor Entrypoint.
 * What `own` sets is kept as it is.
 */
export function completeImageDefaults(rootfs: string, own: ImageDefaults | undefined): ImageDefaults {
  const fallback = envImageDefaults(rootfs);
  const out: ImageDefaults = { ...own };
  if (!out.env?.some((e) => e.startsWith('PATH='))) out.env = [...(fallback.env ?? []), ...(out.env ?? [])];
  if (!out.cmd && !out.entrypoint && fallback.cmd) out.cmd = fallback.cmd;
  return out;
}
