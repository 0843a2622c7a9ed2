import { readFileSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { CakeError } from '../model/errors.js';
import { silentLogger, type Logger } from '../model/logger.js';
import { Dispatchers } from './dispatchers.js';
import { downloadFile, type DownloadContext, type DownloadOptions, type DownloadResult } from './download.js';
import { displayUrl, httpStatusError, interruptedError, networkError } from './http-errors.js';
import { proxySettingsFromEnv } from './proxy.js';
import { RetryableFailure, isRetryableStatus, isTransientNetworkError, parseRetryAfter, withRetries, type RetryPolicy } from './retry.js';
import { TransportError, contentRangeStart, discard, lowerCaseHeaders, openFollowingRedirects, type OpenInit, type OpenResponse } from './transport.js';

export type { DownloadOptions, DownloadResult } from './download.js';

export interface HttpClientOptions {
  /** Default `cake/<version>`. */
  userAgent?: string;
  /** Retries after the first attempt for transient failures; default 4 (so 5 attempts). */
  retries?: number;
  /** First backoff delay, doubling with jitter, capped at 30 s; Retry-After (capped at 60 s) wins. Default 500. */
  baseDelayMs?: number;
  /** Connect and response-headers timeout; default 30 s. */
  timeoutMs?: number;
  /** Body idle timeout (no byte received for this long); default 60 s. */
  bodyTimeoutMs?: number;
  /**
   * A download fails once it has waited this long in total on a silent server (summed over its
   * attempts: a server that sends a little and stalls, again and again); default 3 × bodyTimeoutMs.
   */
  maxStallMs?: number;
  /**
   * Proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, any case) and CAKE_NET_TIMEOUT (seconds a
   * silent server is waited for per attempt: bodyTimeoutMs when that is not given); process.env is
   * never read here.
   */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Extra trusted CA certificates (PEM), in addition to Node's bundled roots: private registries, tests. */
  ca?: string | string[];
  /** Host name → IP address overrides, like curl --resolve (direct connections and proxy host names). */
  resolve?: Record<string, string>;
  /** `--insecure`: follow redirects from https or a loopback server to plain HTTP on another host. */
  insecure?: boolean;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  signal?: AbortSignal;
  /** Default 64 MiB; a larger body fails with CakeError('http'). */
  maxBytes?: number;
  /** Non-2xx statuses to return instead of failing on (e.g. 401 for a registry ping, 404 for a probe). */
  acceptStatuses?: number[];
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

export interface StreamOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Ask for bytes from this offset (`Range: bytes=N-`); a 206 must start there, a 200 means from 0. */
  rangeStart?: number;
}

export interface StreamResponse {
  status: number;
  headers: Record<string, string>;
  /** The caller must consume or destroy it; its errors are CakeErrors ('network' or 'interrupted'). */
  body: Readable;
  url: string;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

function defaultUserAgent(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? `cake/${pkg.version}` : 'cake';
  } catch {
    return 'cake';
  }
}

/**
 * The one HTTP client of cake (undici underneath): retries with backoff, Range resume, proxies from
 * an explicit env, redirects followed by hand so credentials never leave their origin, and errors
 * that are CakeErrors ('http', 'network', 'digest-mismatch', 'interrupted'). Holds pooled
 * connections: call close() when done.
 */
export class HttpClient {
  private readonly dispatchers: Dispatchers;
  private readonly userAgent: string;
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly logger: Logger;
  private readonly ctx: DownloadContext;
  private readonly insecure: boolean;

  constructor(opts: HttpClientOptions = {}) {
    this.userAgent = opts.userAgent ?? defaultUserAgent();
    this.retries = Math.max(0, opts.retries ?? 4);
    this.baseDelayMs = opts.baseDelayMs ?? 500;
    this.logger = opts.logger ?? silentLogger;
    this.insecure = opts.insecure ?? false;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const bodyTimeoutMs = opts.bodyTimeoutMs ?? netTimeoutFromEnv(opts.env?.CAKE_NET_TIMEOUT) ?? 60_000;
    this.dispatchers = new Dispatchers({
      proxies: proxySettingsFromEnv(opts.env ?? {}),
      connectTimeoutMs: timeoutMs,
      headersTimeoutMs: timeoutMs,
      bodyTimeoutMs,
      ca: opts.ca === undefined ? undefined : Array.isArray(opts.ca) ? opts.ca : [opts.ca],
      resolve: opts.resolve,
    });
    this.ctx = {
      logger: this.logger,
      policy: (signal) => this.policy(signal),
      open: (url, init, accept, attempt) => this.open(url, init, accept, attempt),
      failure: (err, method, url, signal, progressed) => this.failure(err, method, url, signal, progressed),
      headers: (headers) => this.headers(headers),
      maxStallMs: opts.maxStallMs ?? 3 * bodyTimeoutMs,
      stallTimeoutMs: { headers: timeoutMs, body: bodyTimeoutMs },
    };
  }

  /**
   * Downloads `url` into `partPath` (created, or resumed with `Range: bytes=N-` when it already holds
   * N bytes), retrying transient failures and verifying size and sha256 over the whole file. On
   * success partPath is complete and verified; the caller renames it into place. On a digest
   * mismatch partPath is deleted; on any other failure it keeps a valid prefix for a later resume.
   */
  download(url: string, partPath: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
    return this.guard('GET', url, opts.signal, () => downloadFile(this.ctx, url, partPath, opts));
  }

  /** A small request (JSON, indices) read into memory, after retries; same redirect policy. */
  request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const method = (opts.method ?? 'GET').toUpperCase();
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    const accept = (s: number): boolean => (s >= 200 && s < 300) || (opts.acceptStatuses?.includes(s) ?? false);
    const init: OpenInit = { method, headers: this.headers(opts.headers), body: opts.body, signal: opts.signal };
    return this.guard(method, url, opts.signal, () =>
      withRetries(this.policy(opts.signal), async (n) => {
        const res = await this.open(url, init, accept, n);
        let body: Buffer;
        try {
          body = await readAll(res, maxBytes, method, url);
        } catch (err) {
          throw this.failure(err, method, res.url, opts.signal);
        }
        return { status: res.status, headers: res.headers, body, url: res.url };
      }),
    );
  }

  /**
   * A streaming GET for pipelines that hash or decompress on the fly. Resolves once a 200 or 206
   * arrived (retrying only up to there); a 206 must start at `rangeStart` (default 0).
   */
  stream(url: string, opts: StreamOptions = {}): Promise<StreamResponse> {
    const headers = this.headers(opts.headers);
    const start = opts.rangeStart ?? 0;
    if (opts.rangeStart !== undefined) headers.range = `bytes=${start}-`;
    const init: OpenInit = { method: 'GET', headers, signal: opts.signal };
    return this.guard('GET', url, opts.signal, async () => {
      const res = await withRetries(this.policy(opts.signal), (n) => this.open(url, init, (s) => s === 200 || s === 206, n));
      if (res.status === 206 && contentRangeStart(res.headers['content-range']) !== start) {
        discard(res.body);
        throw new CakeError('http', `GET ${displayUrl(url)}: asked for bytes from ${start}, got Content-Range "${res.headers['content-range'] ?? ''}"`);
      }
      return { ...res, body: this.guardBody(res, opts.signal) };
    });
  }

  /** Closes pooled connections. Idempotent. */
  async close(): Promise<void> {
    await this.dispatchers.close();
  }

  private headers(extra: Record<string, string> | undefined): Record<string, string> {
    return { 'user-agent': this.userAgent, ...lowerCaseHeaders(extra) };
  }

  private policy(signal: AbortSignal | undefined): RetryPolicy {
    return { retries: this.retries, baseDelayMs: this.baseDelayMs, logger: this.logger, signal };
  }

  /** One attempt up to the response headers; statuses not accepted become errors (retryable or not). */
  private async open(url: string, init: OpenInit, accept: (status: number) => boolean, attempt: number): Promise<OpenResponse> {
    let res: OpenResponse;
    try {
      res = await openFollowingRedirects(this.dispatchers, url, { ...init, insecure: this.insecure });
    } catch (err) {
      throw this.failure(err, init.method, url, init.signal);
    }
    if (accept(res.status)) return res;
    discard(res.body);
    const error = httpStatusError(init.method, url, res.url, res.status, attempt);
    if (isRetryableStatus(res.status)) throw new RetryableFailure(error, parseRetryAfter(res.headers['retry-after']));
    throw error;
  }

  /** Classifies a thrown value: abort → interrupted, transport failure → network (retryable when transient). */
  private failure(err: unknown, method: string, url: string, signal: AbortSignal | undefined, progressed = false): Error {
    if (signal?.aborted) return interruptedError(method, url, err);
    if (err instanceof CakeError || err instanceof RetryableFailure) return err;
    const at = err instanceof TransportError ? err : undefined;
    const cause = at ? at.cause : err;
    const error = networkError(at?.url ?? url, cause, at ? at.proxy : this.dispatchers.proxyFor(new URL(url)));
    return isTransientNetworkError(cause) ? new RetryableFailure(error, undefined, progressed) : error;
  }

  /** Every public method ends here: only CakeErrors leave the client. */
  private async guard<T>(method: string, url: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
      throw new CakeError('bad-source', `not an http(s) URL: ${JSON.stringify(url)}`);
    }
    try {
      return await run();
    } catch (err) {
      const mapped = this.failure(err, method, url, signal);
      throw mapped instanceof RetryableFailure ? mapped.error : mapped;
    }
  }

  /** Re-emits the body so that its errors are CakeErrors; destroying the result closes the connection. */
  private guardBody(res: OpenResponse, signal: AbortSignal | undefined): Readable {
    const out = new PassThrough();
    res.body.on('error', (err) => {
      const mapped = this.failure(err, 'GET', res.url, signal);
      out.destroy(mapped instanceof RetryableFailure ? mapped.error : mapped);
    });
    out.on('close', () => {
      if (!res.body.destroyed) discard(res.body);
    });
    res.body.pipe(out);
    return out;
  }
}

/** CAKE_NET_TIMEOUT=SECONDS → milliseconds; a value that is not a positive number is a usage error. */
function netTimeoutFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new CakeError('usage', `CAKE_NET_TIMEOUT=${JSON.stringify(value).slice(1, -1)} is not a number of seconds`, {
      exitCode: 2,
      hint: 'set it to how many seconds a silent server is waited for, e.g. CAKE_NET_TIMEOUT=120, or unset it',
    });
  }
  return Math.round(seconds * 1000);
}

async function readAll(res: OpenResponse, maxBytes: number, method: string, url: string): Promise<Buffer> {
  const tooBig = (): CakeError =>
    new CakeError('http', `${method} ${displayUrl(url)}: response larger than ${maxBytes} bytes`, {
      hint: 'the server sent far more than expected for this kind of request; check the URL',
    });
  // A HEAD (and 204/304) response has no body: its Content-Length describes the resource, not this reply.
  if (method === 'HEAD' || res.status === 204 || res.status === 304) {
    discard(res.body);
    return Buffer.alloc(0);
  }
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    discard(res.body);
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      discard(res.body);
      throw tooBig();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
