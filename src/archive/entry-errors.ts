/**
 * What a system error while applying a tar entry means, in one line without the (staging, maybe
 * huge) path in it, and the time conversion for fs.utimes; used by the extractor.
 */
import { CakeError } from '../model/errors.js';
import { show, type TarEntry } from './tar-entry.js';

/** What a system error while applying an entry means, without the (staging, maybe huge) path in it. */
const ERRNO_REASONS: Record<string, [reason: string, hint: string]> = {
  ENAMETOOLONG: ['its name is longer than this filesystem allows', 'a component over 255 bytes or a path over 4096 cannot be created here; nothing was installed'],
  ENOSPC: ['no space left on the device', 'free some space (`cake gc` removes unused downloads) and try again; nothing was installed'],
  EDQUOT: ['disk quota exceeded', 'free some space or raise the quota and try again; nothing was installed'],
  EACCES: ['permission denied', 'check the permissions of the cake store (CAKE_HOME); nothing was installed'],
  EPERM: ['operation not permitted', 'check the permissions of the cake store (CAKE_HOME); nothing was installed'],
  EROFS: ['the filesystem is read-only', 'put the cake store (CAKE_HOME) on a writable filesystem; nothing was installed'],
  EILSEQ: ['its name is not valid on this filesystem', 'the filesystem of the cake store rejects this name (non-UTF-8?); nothing was installed'],
  EINVAL: ['its name is not valid on this filesystem', 'the filesystem of the cake store rejects this name; nothing was installed'],
  EMLINK: ['too many hard links to one file', 'the filesystem of the cake store cannot hold this many links; nothing was installed'],
  ENOENT: ['a directory it needs is missing', 'the archive is damaged or reorders its entries oddly; nothing was installed'],
  ENOTDIR: ['a part of its path is not a directory', 'the archive puts a file where it needs a directory; nothing was installed'],
};

/**
 * A time for fs.utimes and friends: Node replaces a negative number of seconds by "now", so
 * pre-epoch times (GNU tar keeps them) go as a Date; others stay numbers (sub-millisecond precision).
 */
export function fsTime(seconds: number): number | Date {
  return seconds < 0 ? new Date(seconds * 1000) : seconds;
}

export function entryError(e: TarEntry, err: unknown): CakeError {
  const code = (err as { code?: unknown }).code;
  const known = typeof code === 'string' ? ERRNO_REASONS[code] : undefined;
  const reason = known?.[0] ?? (typeof code === 'string' ? `system error ${code}` : String((err as Error).message ?? err).slice(0, 200));
  const kind = code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code === 'EILSEQ' || code === 'EINVAL' ? 'bad-archive' : 'io';
  return new CakeError(kind, `archive entry ${JSON.stringify(show(e.path))}: ${reason}${known && typeof code === 'string' ? ` (${code})` : ''}`, {
    cause: err,
    hint: known?.[1] ?? 'nothing was installed; rerun with CAKE_DEBUG=1 for the system error',
  });
}

