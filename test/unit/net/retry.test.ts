import { describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { silentLogger } from '../../../src/model/logger.js';
import { RetryableFailure, backoffDelay, isRetryableStatus, isTransientNetworkError, parseRetryAfter, withRetries } from '../../../src/net/retry.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads seconds and HTTP dates, capped at 60 s', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('3600', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
  });
  it('ignores absent or malformed values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('doubles from the base with jitter in [d/2, d], capped at 30 s', () => {
    expect(backoffDelay(0, 500, () => 0)).toBe(250);
    expect(backoffDelay(0, 500, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, () => 1)).toBe(4000);
    expect(backoffDelay(20, 500, () => 1)).toBe(30_000);
    expect(backoffDelay(1000, 500, () => 0.5)).toBe(22_500);
  });
});

describe('classification', () => {
  it('retries only transient statuses', () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 416, 501].some(isRetryableStatus)).toBe(false);
  });
  it('retries transient transport errors, looking through causes and AggregateError', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    expect(isTransientNetworkError(errno('ECONNRESET'))).toBe(true);
    expect(isTransientNetworkError(errno('UND_ERR_SOCKET'))).toBe(true);
    expect(isTransientNetworkError(new AggregateError([errno('ECONNREFUSED')]))).toBe(true);
    expect(isTransientNetworkError(new Error('x', { cause: errno('ETIMEDOUT') }))).toBe(true);
    expect(isTransientNetworkError(errno('ENOTFOUND'))).toBe(false);
    expect(isTransientNetworkError(errno('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBe(false);
  });
});

describe('withRetries', () => {
  const policy = { retries: 2, baseDelayMs: 1, logger: silentLogger };
  const failure = (progressed = false) => new RetryableFailure(new CakeError('network', 'flaky'), 0, progressed);

  it('gives up after retries + 1 consecutive failures with the last error', async () => {
    let calls = 0;
    const err = await withRetries(policy, async () => {
      calls++;
      throw failure();
    }).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).message).toBe('flaky');
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(
      withRetries(policy, async () => {
        calls++;
        throw new CakeError('http', 'nope');
      }),
    ).rejects.toThrow('nope');
    expect(calls).toBe(1);
  });

  it('starts counting again after an attempt that made progress', async () => {
    const outcomes = [false, false, true, false, false, true, false, 'ok'];
    let i = 0;
    const result = await withRetries(policy, async (n) => {
      const o = outcomes[i++];
      if (o === 'ok') return n;
      throw failure(o as boolean);
    });
    expect(result).toBe(8);
  });

  it('never retries with retries: 0, progress or not', async () => {
    let calls = 0;
    await expect(
      withRetries({ ...policy, retries: 0 }, async () => {
        calls++;
        throw failure(true);
      }),
    ).rejects.toThrow('flaky');
    expect(calls).toBe(1);
  });

  it('rejects with the abort reason while waiting', async () => {
    const ac = new AbortController();
    const p = withRetries({ ...policy, baseDelayMs: 10_000, signal: ac.signal }, async () => {
      throw new RetryableFailure(new CakeError('network', 'x'));
    });
    setTimeout(() => ac.abort(new Error('stop')), 20);
    await expect(p).rejects.toThrow('stop');
  });
});
