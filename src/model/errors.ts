/**
 * The one error hierarchy of cake. Every failure a user can meet is a CakeError with a stable
 * `code` (scripts may match on it), a one-line message, an optional hint saying what to do, and
 * the process exit code it maps to. Causes are wrapped, never lost (shown with CAKE_DEBUG=1).
 */
export type ErrorCode =
  | 'usage'
  | 'bad-name'
  | 'bad-source'
  | 'bad-digest'
  | 'digest-mismatch'
  | 'not-found'
  | 'exists'
  | 'locked'
  | 'network'
  | 'http'
  | 'unsafe-archive'
  | 'bad-archive'
  | 'missing-tool'
  | 'engine'
  | 'interrupted'
  | 'io'
  | 'recipe'
  | 'resolver'
  | 'signature'
  | 'registry'
  | 'bake'
  | 'internal';

export interface CakeErrorOptions {
  hint?: string;
  exitCode?: number;
  cause?: unknown;
}

export class CakeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: CakeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CakeError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? (code === 'usage' ? 2 : code === 'interrupted' ? 130 : 1);
  }
}

/** A usage error: bad flags or arguments. Exit code 2. */
export class UsageError extends CakeError {
  constructor(message: string, hint?: string) {
    super('usage', message, hint === undefined ? {} : { hint });
    this.name = 'UsageError';
  }
}

/** True when `err` is a Node system error with the given errno code (ENOENT, EEXIST, ...). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Wraps any thrown value into a CakeError. CakeErrors pass through untouched; system errors
 * keep their message with the path involved; anything else becomes an `internal` error.
 */
export function toCakeError(err: unknown, what = 'operation failed'): CakeError {
  if (err instanceof CakeError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ABORT_ERR' || err.name === 'AbortError') {
      return new CakeError('interrupted', 'interrupted', { cause: err });
    }
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      return new CakeError('io', `${what}: ${err.message}`, { cause: err });
    }
    return new CakeError('internal', `${what}: ${err.message}`, {
      cause: err,
      hint: 'this is a bug in cake; rerun with CAKE_DEBUG=1 and report the stack trace',
    });
  }
  return new CakeError('internal', `${what}: ${String(err)}`);
}
