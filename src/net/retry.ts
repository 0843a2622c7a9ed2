import type { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';

/** Statuses worth asking again for: the server or something in between is busy or flaky. */
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/** Transport failures that may succeed on another try (DNS NXDOMAIN and TLS trust errors do not). */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'CAKE_TOO_SLOW', // rate-floor.ts: a body that trickles below the floor
]);

/** The errno/undici code of `err`, looking through AggregateError (happy eyeballs) and `cause`. */
export function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (e as { errors?: unknown }).errors;
    e = Array.isArray(errors) && errors.length > 0 ? errors[0] : (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isTransientNetworkError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

const RETRY_AFTER_CAP_MS = 60_000;
const BACKOFF_CAP_MS = 30_000;

/**
 * Parses a Retry-After value (delta seconds or an HTTP date) into milliseconds from `now`,
 * capped at 60 s; undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    if (!/^[a-z]{3}/i.test(text)) return undefined; // HTTP dates start with a day name
    const date = Date.parse(text);
    if (Number.isNaN(date)) return undefined;
    ms = date - now;
  }
  return Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS);
}

/** Exponential backoff for the `failure`-th consecutive failure (0-based), with equal jitter, capped at 30 s. */
export function backoffDelay(failure: number, baseDelayMs: number, random: () => number = Math.random): number {
  const full = Math.min(BACKOFF_CAP_MS, baseDelayMs * 2 ** Math.min(failure, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Thrown by an attempt to ask for another one. `error` is what the caller gets when retries run out;
 * `progressed` (the attempt moved data forward) resets the consecutive-failure count, so a long
 * download over a link that drops every few minutes still completes.
 */
export class RetryableFailure extends Error {
  constructor(
    readonly error: CakeError,
    readonly retryAfterMs?: number,
    readonly progressed = false,
  ) {
    super(error.message, { cause: error });
  }
}

export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  logger: Logger;
  signal?: AbortSignal | undefined;
}

/** Backoffs at least this long are reported as warnings rather than debug lines. */
const LOUD_MS = 5000;

/** A safety bound on attempts when every attempt makes progress. */
const MAX_ATTEMPTS_WITH_PROGRESS = 100;

/**
 * Runs `attempt(n)` (n from 1) until it returns, throws anything but a RetryableFailure, or has failed
 * `retries + 1` times in a row without progress; then throws the last failure's `error`. A failure
 * that made progress does not count (bounded at 100 attempts overall); `retries: 0` never retries.
 */
export async function withRetries<T>(policy: RetryPolicy, attempt: (n: number) => Promise<T>): Promise<T> {
  let failures = 0;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof RetryableFailure)) throw err;
      failures = err.progressed ? 0 : failures + 1;
      if (policy.retries === 0 || failures > policy.retries || n >= MAX_ATTEMPTS_WITH_PROGRESS) throw err.error;
      const delay = err.retryAfterMs ?? backoffDelay(Math.max(0, failures - 1), policy.baseDelayMs);
      const say = delay >= LOUD_MS ? policy.logger.warn : policy.logger.debug;
      say.call(policy.logger, `${err.error.message}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1})`);
      await sleep(delay, policy.signal);
    }
  }
}
