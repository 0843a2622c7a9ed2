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

/**
 * A request a use case refuses because of its options. Domain code names each option as the
 * request does (`sha256`, `moduleDirs`), written `{sha256}` in the message and hint: it spells no
 * flag. The CLI words them as its flags (`--sha256`, `--modules`; cli/main.ts), other callers as
 * they call them; `message` names them plainly. Exit code 2.
 */
export class OptionError extends CakeError {
  readonly options: readonly string[];
  readonly template: string;
  readonly hintTemplate: string | undefined;
  constructor(options: readonly string[], template: string, hint?: string) {
    const plain = (o: string): string => o;
    super('usage', fillOptions(template, options, plain), hint === undefined ? {} : { hint: fillOptions(hint, options, plain) });
    this.name = 'OptionError';
    this.options = options;
    this.template = template;
    this.hintTemplate = hint;
  }

  /** The message with each option named by `word` (a flag, a recipe key). */
  worded(word: (option: string) => string): string {
    return fillOptions(this.template, this.options, word);
  }

  /** The hint with each option named by `word`. */
  wordedHint(word: (option: string) => string): string | undefined {
    return this.hintTemplate === undefined ? undefined : fillOptions(this.hintTemplate, this.options, word);
  }
}

/** `{user}` → `word('user')`, for the declared options only (a value such as a path is left alone). */
function fillOptions(text: string, options: readonly string[], word: (option: string) => string): string {
  return text.replace(/\{([A-Za-z0-9]+)\}/g, (all, o: string) => (options.includes(o) ? word(o) : all));
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
