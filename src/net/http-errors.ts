import { STATUS_CODES } from 'node:http';
import { CakeError } from '../model/errors.js';
import { errorCode } from './retry.js';

/** A URL fit for messages: no user:password. */
export function displayUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return String(url);
  }
}

function statusHint(status: number, host: string, attempts: number): string | undefined {
  if (status === 401) return `${host} wants credentials or rejected them: log in, or check that the resource is public`;
  if (status === 403) return `${host} denied access: check that your credentials grant access to this resource`;
  if (status === 404) return `${host} has nothing at this address: check the name, tag, version or URL (it may have been removed)`;
  if (status === 407) return 'the proxy wants credentials: put them in the proxy URL (http://user:password@proxy:port)';
  if (status === 429) return `${host} is rate limiting this machine (${attempts} attempts made): wait a while and try again`;
  if (status >= 500) return `${host} kept failing (${attempts} attempts made): try again later`;
  return undefined;
}

/** `GET URL: 404 Not Found`, with a hint for the statuses users can act on. */
export function httpStatusError(method: string, url: string, finalUrl: string, status: number, attempts = 1): CakeError {
  const text = STATUS_CODES[status];
  const finalHost = new URL(finalUrl).host;
  const via = new URL(url).host === finalHost ? '' : ` (redirected to ${finalHost})`;
  const hint = statusHint(status, finalHost, attempts);
  return new CakeError('http', `${method} ${displayUrl(url)}: ${status}${text ? ` ${text}` : ''}${via}`, hint === undefined ? {} : { hint });
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'host not found (DNS)',
  EAI_AGAIN: 'temporary DNS failure',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the other side',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no response in time',
  UND_ERR_BODY_TIMEOUT: 'transfer stalled (no data received in time)',
  ERR_STREAM_PREMATURE_CLOSE: 'transfer ended early',
};

/** A short human reason for a transport failure, with its code. */
export function describeNetworkError(err: unknown): string {
  const code = errorCode(err);
  const reason = code !== undefined ? REASONS[code] : undefined;
  if (reason !== undefined) return `${reason} (${code})`;
  const message = err instanceof Error ? err.message : String(err);
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
}

/** `cannot reach HOST: <reason>`, with a hint about proxies and reachability. */
export function networkError(url: string, err: unknown, proxy: string | undefined): CakeError {
  const { host, hostname } = new URL(url);
  const code = errorCode(err) ?? '';
  const message = err instanceof Error ? err.message : String(err);
  const via = proxy !== undefined ? ` via proxy ${new URL(proxy).host}` : '';
  let reason = describeNetworkError(err);
  let hint: string;
  if (/CERT|SSL|TLS|SELF_SIGNED/.test(code)) {
    reason = `TLS: ${reason}`;
    hint = `the TLS certificate of ${host} is not trusted by this machine; a proxy that intercepts TLS causes this (its CA must then be trusted)`;
  } else if (proxy !== undefined && /\b407\b/.test(message)) {
    reason = 'the proxy wants credentials (407 Proxy Authentication Required)';
    hint = 'put the credentials in the proxy URL (http://user:password@proxy:port), or add the host to NO_PROXY to connect directly';
  } else if (proxy !== undefined) {
    hint = `the request went through the proxy ${displayUrl(proxy)}: check that it is up and can reach ${host}, or add ${hostname} to NO_PROXY to connect directly; the host may be unreachable from this machine`;
  } else {
    hint = 'check the network; behind a proxy, set HTTPS_PROXY/HTTP_PROXY (and NO_PROXY for hosts to reach directly); the host may be unreachable from this machine';
  }
  return new CakeError('network', `cannot reach ${host}: ${reason}${via}`, { hint, cause: err });
}

export function interruptedError(method: string, url: string, cause: unknown): CakeError {
  return new CakeError('interrupted', `${method} ${displayUrl(url)}: interrupted`, { cause });
}
