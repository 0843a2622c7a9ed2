import type { Readable } from 'node:stream';
import { CakeError } from '../model/errors.js';
import type { Dispatchers } from './dispatchers.js';
import { displayUrl } from './http-errors.js';
import { isLoopbackHost } from './proxy.js';

export const MAX_REDIRECTS = 10;

/** Headers that carry credentials: never sent to an origin other than the one the caller named. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export interface OpenInit {
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: Buffer | string | undefined;
  signal?: AbortSignal | undefined;
  /** Follow redirects that downgrade to plain HTTP on another host (`--insecure`). */
  insecure?: boolean | undefined;
}

export interface OpenResponse {
  status: number;
  headers: Record<string, string>;
  /** undici's body; the receiver must consume or destroy it. */
  body: Readable;
  /** The URL that answered (after redirects). */
  url: string;
}

/** A transport failure (connect, TLS, timeout, reset) at `url`, reached through `proxy` if set. */
export class TransportError extends Error {
  constructor(
    readonly url: string,
    readonly proxy: string | undefined,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

export function lowerCaseHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** `bytes START-END/TOTAL` → START, or undefined. */
export function contentRangeStart(value: string | undefined): number | undefined {
  const m = /^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/i.exec(value?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Discards a body we do not need without waiting on a slow or broken server. */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * A redirect from `from` to `to` that lowers the protection the caller chose: from https, or from a
 * loopback server (reached over plain HTTP only because it is local), to plain HTTP on a host that is
 * not loopback. apt refuses https→http redirects the same way.
 */
export function isInsecureRedirect(from: URL, to: URL): boolean {
  if (to.protocol !== 'http:' || isLoopbackHost(to.hostname)) return false;
  return from.protocol === 'https:' || isLoopbackHost(from.hostname);
}

/**
 * One attempt: sends the request and follows up to 10 redirects itself. A redirect to another origin
 * drops Authorization, Cookie and Proxy-Authorization for the rest of the chain; 303 (and 301/302
 * after a non-GET, as browsers do) turns the request into a bodiless GET. A redirect to plain HTTP
 * that {@link isInsecureRedirect} calls a downgrade is refused unless `init.insecure`. Transport
 * failures come back as TransportError naming the URL that failed.
 */
export async function openFollowingRedirects(dispatchers: Dispatchers, startUrl: string, init: OpenInit): Promise<OpenResponse> {
  const origin = new URL(startUrl).origin;
  let url = new URL(startUrl);
  let { method, body } = init;
  const headers = { ...init.headers };
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CakeError('http', `${init.method} ${displayUrl(startUrl)}: cannot follow a redirect to ${url.protocol} URL`);
    }
    if (url.origin !== origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
    let res;
    try {
      res = await dispatchers.get(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        body: body ?? null,
        signal: init.signal ?? null,
      });
    } catch (err) {
      throw new TransportError(url.href, dispatchers.proxyFor(url), err);
    }
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.statusCode) || typeof location !== 'string') {
      return { status: res.statusCode, headers: flattenHeaders(res.headers), body: res.body, url: url.href };
    }
    discard(res.body);
    if (hop >= MAX_REDIRECTS) {
      throw new CakeError('http', `${init.method} ${displayUrl(startUrl)}: more than ${MAX_REDIRECTS} redirects`, {
        hint: 'the server redirects in a loop; check the URL',
      });
    }
    if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method !== 'GET' && method !== 'HEAD')) {
      if (method !== 'HEAD') method = 'GET';
      body = undefined;
      delete headers['content-type'];
      delete headers['content-length'];
    }
    const next = new URL(location, url);
    if (!init.insecure && isInsecureRedirect(url, next)) {
      throw new CakeError('http', `${init.method} ${displayUrl(startUrl)}: refusing the redirect from ${url.host} to plain HTTP at ${displayUrl(next)}`, {
        hint: `the server moved the request to an unencrypted address on another host; use that URL yourself if you trust it, or pass --insecure to follow such redirects`,
      });
    }
    url = next;
  }
}
