import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat, truncate } from 'node:fs/promises';
import { parseSha256 } from '../model/digest.js';
import { CakeError, isErrno } from '../model/errors.js';
import type { Logger, Progress } from '../model/logger.js';
import { displayUrl } from './http-errors.js';
import { RateFloor, TOO_SLOW } from './rate-floor.js';
import { RetryableFailure, withRetries, type RetryPolicy } from './retry.js';
import { contentRangeStart, discard, type OpenInit, type OpenResponse } from './transport.js';

export interface DownloadOptions {
  /** Sent with every request; Authorization and Cookie only to the original origin. */
  headers?: Record<string, string>;
  /** Hex (or sha256:hex), verified over the whole file including a resumed prefix. */
  expectedSha256?: string;
  expectedSize?: number;
  signal?: AbortSignal;
  /** When set, logger.progress(label, contentLength, 'bytes') follows the transfer. */
  progressLabel?: string;
}

export interface DownloadResult {
  sha256: string;
  size: number;
  /** Some bytes came from an earlier attempt or run (Range resume). */
  resumed: boolean;
  /** HTTP attempts made (0 when the part file was already complete and verified). */
  attempts: number;
}

/** What the download needs from its HttpClient. */
export interface DownloadContext {
  logger: Logger;
  policy(signal: AbortSignal | undefined): RetryPolicy;
  open(url: string, init: OpenInit, accept: (status: number) => boolean, attempt: number): Promise<OpenResponse>;
  failure(err: unknown, method: string, url: string, signal: AbortSignal | undefined, progressed?: boolean): Error;
  headers(extra: Record<string, string> | undefined): Record<string, string>;
  /** Total time a download may wait on a silent server, summed over its attempts, before it fails. */
  maxStallMs: number;
  /** The idle timeouts, per kind of stall: what one stalled attempt costs the user. */
  stallTimeoutMs: { headers: number; body: number };
}

/** An attempt only counts as progress (and resets the retry count) when it moved at least this far. */
export const MIN_PROGRESS_BYTES = 64 * 1024;

/** Which idle timeout ended the attempt (looking through CakeErrors and RetryableFailures), if one did. */
function stallKind(err: unknown): 'headers' | 'body' | 'slow' | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === TOO_SLOW) return 'slow';
    if (code === 'UND_ERR_BODY_TIMEOUT') return 'body';
    if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'headers';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
}

async function hashPrefix(path: string, size: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (size === 0) return hash;
  for await (const chunk of createReadStream(path, { start: 0, end: size - 1 })) hash.update(chunk as Buffer);
  return hash;
}

/** A strong validator for If-Range: a strong ETag, else Last-Modified. */
function validatorOf(headers: Record<string, string>): string | undefined {
  const etag = headers.etag;
  if (etag !== undefined && !etag.startsWith('W/')) return etag;
  return headers['last-modified'];
}

/** Total size from a 416's `Content-Range: bytes * /N`. */
function unsatisfiedTotal(value: string | undefined): number | undefined {
  const m = /^bytes\s+\*\/(\d+)$/i.exec(value?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

export async function downloadFile(ctx: DownloadContext, url: string, partPath: string, opts: DownloadOptions): Promise<DownloadResult> {
  const expected = opts.expectedSha256 === undefined ? undefined : parseSha256(opts.expectedSha256, 'expected sha256');
  const { preexisting, ...first } = await new Transfer(ctx, url, partPath, opts).run();
  if (expected === undefined || first.sha256 === expected) return first;
  await rm(partPath, { force: true });
  if (preexisting > 0) {
    // The prefix came from an earlier run and may belong to another version of the file: one clean try.
    ctx.logger.debug(`${displayUrl(url)}: resumed file does not verify; downloading it again from the start`);
    const { preexisting: _, ...again } = await new Transfer(ctx, url, partPath, opts).run();
    if (again.sha256 === expected) return { ...again, attempts: again.attempts + first.attempts };
    await rm(partPath, { force: true });
    throw mismatch(url, expected, again.sha256);
  }
  throw mismatch(url, expected, first.sha256);
}

function mismatch(url: string, expected: string, got: string): CakeError {
  return new CakeError('digest-mismatch', `sha256 mismatch for ${displayUrl(url)}: expected ${expected}, got ${got}`, {
    hint: 'the file changed on the server or was corrupted on the way; if the pinned digest is outdated, update it',
  });
}

/** One pass of attempts over partPath, keeping the running hash in step with the bytes on disk. */
class Transfer {
  private hash: Hash | undefined;
  private hashed = 0; // bytes of partPath covered by `hash`
  private resumed = false;
  private attempts = 0;
  private preexisting = -1;
  private validator: string | undefined;
  private progress: Progress | undefined;
  /** Time spent waiting on a silent server (idle timeouts that fired), over all attempts; bounded by ctx.maxStallMs. */
  private stalledMs = 0;
  private stalls = 0;
  private total: number | undefined;

  constructor(
    private readonly ctx: DownloadContext,
    private readonly url: string,
    private readonly path: string,
    private readonly opts: DownloadOptions,
  ) {}

  async run(): Promise<DownloadResult & { preexisting: number }> {
    try {
      await withRetries(this.ctx.policy(this.opts.signal), (n) => this.attempt(n));
    } finally {
      this.progress?.stop();
    }
    const size = this.hashed;
    const sha256 = (this.hash ?? createHash('sha256')).digest('hex');
    if (this.opts.expectedSize !== undefined && size !== this.opts.expectedSize) {
      await rm(this.path, { force: true });
      throw new CakeError('digest-mismatch', `size mismatch for ${displayUrl(this.url)}: expected ${this.opts.expectedSize} bytes, got ${size}`);
    }
    return { sha256, size, resumed: this.resumed, attempts: this.attempts, preexisting: this.preexisting };
  }

  /** Makes `hash` cover exactly the first `offset` bytes of the file. */
  private async syncHash(offset: number): Promise<void> {
    if (this.hash === undefined || this.hashed !== offset) {
      this.hash = await hashPrefix(this.path, offset);
      this.hashed = offset;
    }
  }

  private async restart(): Promise<void> {
    await truncate(this.path, 0).catch(() => {});
    this.hash = undefined;
    this.hashed = 0;
  }

  /** One attempt; a server gone silent counts against the stall budget, which ends the download. */
  private async attempt(n: number): Promise<void> {
    try {
      await this.tryOnce(n);
    } catch (err) {
      const kind = stallKind(err);
      if (kind === undefined || this.opts.signal?.aborted) throw err;
      const waited = this.ctx.stallTimeoutMs[kind === 'slow' ? 'body' : kind];
      this.stalledMs += waited;
      this.stalls += 1;
      const of = this.total !== undefined ? ` of ${this.total}` : '';
      if (this.stalledMs < this.ctx.maxStallMs) {
        // Said on every stall, TTY or not: the user has just waited a whole idle timeout for nothing.
        const left = Math.ceil((this.ctx.maxStallMs - this.stalledMs) / 1000);
        const what = kind === 'slow' ? `less than ${MIN_PROGRESS_BYTES >> 10} KiB in ${Math.round(waited / 1000)} s` : `no data for ${Math.round(waited / 1000)} s`;
        this.ctx.logger.warn(`GET ${displayUrl(this.url)}: ${what} (received ${this.hashed}${of} bytes); asking again (gives up after ${left} s more without data)`);
        throw err;
      }
      throw new CakeError(
        'network',
        `GET ${displayUrl(this.url)}: ${kind === 'slow' ? `the server is far too slow: less than ${MIN_PROGRESS_BYTES >> 10} KiB in ${Math.round(waited / 1000)} s,` : 'the server stopped sending: no data for'} ${Math.round(this.stalledMs / 1000)} s in total over ${this.stalls} attempt${this.stalls === 1 ? '' : 's'} (received ${this.hashed}${of} bytes)`,
        { hint: 'the server or the network is stuck or far too slow; try again later or use another mirror (what arrived is kept and resumed next time); CAKE_NET_TIMEOUT=SECONDS sets how long a silent server is waited for', cause: err },
      );
    }
  }

  private async tryOnce(n: number): Promise<void> {
    const { expectedSize, signal } = this.opts;
    let offset = await sizeOf(this.path);
    if (expectedSize !== undefined && offset > expectedSize) {
      await this.restart();
      offset = 0;
    }
    if (this.preexisting < 0) this.preexisting = offset;
    if (expectedSize !== undefined && offset === expectedSize && offset > 0) {
      await this.syncHash(offset); // already complete: nothing to fetch, only to verify
      this.resumed = true;
      return;
    }
    this.attempts = n;
    const headers = this.ctx.headers(this.opts.headers);
    headers['accept-encoding'] = 'identity';
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (this.validator !== undefined) headers['if-range'] = this.validator;
    }
    const accept = (s: number): boolean => s === 200 || s === 206 || (s === 416 && offset > 0);
    const res = await this.ctx.open(this.url, { method: 'GET', headers, signal }, accept, n);
    if (res.status === 416) {
      discard(res.body);
      if (unsatisfiedTotal(res.headers['content-range']) === offset) {
        await this.syncHash(offset);
        this.resumed = true;
        return;
      }
      await this.restart();
      throw new RetryableFailure(new CakeError('http', `GET ${displayUrl(this.url)}: 416 Range Not Satisfiable`), 0);
    }
    let start = 0;
    if (res.status === 206) {
      start = contentRangeStart(res.headers['content-range']) ?? -1;
      if (start !== offset) {
        discard(res.body);
        await this.restart();
        throw new RetryableFailure(
          new CakeError('http', `GET ${displayUrl(this.url)}: asked for bytes from ${offset}, got Content-Range "${res.headers['content-range'] ?? ''}"`),
          0,
        );
      }
      await this.syncHash(offset);
      this.resumed = true;
    } else {
      this.hash = createHash('sha256');
      this.hashed = 0;
    }
    this.validator ??= validatorOf(res.headers);
    this.startProgress(res, start);
    await this.receive(res, start);
  }

  private startProgress(res: OpenResponse, start: number): void {
    const length = Number(res.headers['content-length']);
    this.total ??= this.opts.expectedSize ?? (res.headers['content-length'] !== undefined && Number.isFinite(length) ? start + length : undefined);
    if (this.opts.progressLabel === undefined) return;
    if (this.progress === undefined) {
      this.progress = this.ctx.logger.progress(this.opts.progressLabel, this.total, 'bytes');
    }
    this.progress.update(start);
  }

  /** Appends the body at `start`, hashing only bytes that reached the file. */
  private async receive(res: OpenResponse, start: number): Promise<void> {
    const hash = this.hash as Hash;
    const limit = this.opts.expectedSize;
    let fh;
    try {
      fh = await open(this.path, start === 0 ? 'w' : 'a');
    } catch (err) {
      discard(res.body);
      throw new CakeError('io', `cannot write ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    let received = 0;
    const floor = new RateFloor(this.ctx.stallTimeoutMs.body, MIN_PROGRESS_BYTES);
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (limit !== undefined && this.hashed + chunk.length > limit) {
          discard(res.body);
          await fh.close();
          await rm(this.path, { force: true });
          throw new CakeError('digest-mismatch', `size mismatch for ${displayUrl(this.url)}: expected ${limit} bytes, got more`);
        }
        try {
          for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
        } catch (err) {
          throw new CakeError('io', `cannot write ${this.path}: ${(err as Error).message}`, { cause: err });
        }
        hash.update(chunk);
        this.hashed += chunk.length;
        received += chunk.length;
        this.progress?.update(this.hashed);
        if (this.total === undefined || this.hashed < this.total) floor.feed(chunk.length); // the last chunk is never too slow
      }
    } catch (err) {
      discard(res.body);
      if (err instanceof CakeError) throw err;
      const done = limit !== undefined && this.hashed >= limit;
      throw this.ctx.failure(err, 'GET', res.url, this.opts.signal, received >= MIN_PROGRESS_BYTES || (done && received > 0));
    } finally {
      await fh.close();
    }
  }
}
