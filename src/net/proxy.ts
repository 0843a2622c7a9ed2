import { BlockList, isIP } from 'node:net';

/**
 * Proxy selection from environment variables, driven by an explicit `env` map (never process.env).
 * Semantics (curl/Go-like):
 * - `HTTPS_PROXY`/`https_proxy` for https URLs, `HTTP_PROXY`/`http_proxy` for http URLs (upper case wins,
 *   empty means unset); no cross-fallback between the two, as in Go and curl.
 * - `NO_PROXY`/`no_proxy`: comma- or space-separated; `*` bypasses everything; `example.com`,
 *   `.example.com` and `*.example.com` all match example.com and its subdomains; `host:port` matches
 *   only that port; IPv4/IPv6 literals (optionally `[v6]:port`) and CIDR ranges (`10.0.0.0/8`) match
 *   the URL's literal address (no DNS lookups).
 * - Loopback targets (`localhost`, `*.localhost`, 127.0.0.0/8, ::1) are never proxied, as in Go's
 *   net/http and therefore docker/podman/skopeo: a local registry must not be sent to a corporate proxy.
 */
export interface ProxySettings {
  httpProxy: string | undefined;
  httpsProxy: string | undefined;
  noProxy: string;
}

export function proxySettingsFromEnv(env: Record<string, string | undefined>): ProxySettings {
  const pick = (...names: string[]): string | undefined => {
    for (const name of names) {
      const value = env[name]?.trim();
      if (value) return value;
    }
    return undefined;
  };
  return {
    httpProxy: normaliseProxyUrl(pick('HTTP_PROXY', 'http_proxy')),
    httpsProxy: normaliseProxyUrl(pick('HTTPS_PROXY', 'https_proxy')),
    noProxy: pick('NO_PROXY', 'no_proxy') ?? '',
  };
}

/** `proxy:3128` means `http://proxy:3128`, as curl reads it. */
function normaliseProxyUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
}

/** The proxy URL to use for `url`, or undefined to connect directly. */
export function proxyFor(url: URL, settings: ProxySettings): string | undefined {
  const proxy = url.protocol === 'https:' ? settings.httpsProxy : url.protocol === 'http:' ? settings.httpProxy : undefined;
  if (proxy === undefined) return undefined;
  if (isLoopbackHost(url.hostname) || bypassesProxy(url, settings.noProxy)) return undefined;
  return proxy;
}

/** Strips the brackets URL.hostname keeps around IPv6 literals. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = bareHost(hostname).toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(host);
  return false;
}

function defaultPort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
}

/** True when the NO_PROXY list `noProxy` says `url` is to be reached directly. */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = bareHost(url.hostname).toLowerCase().replace(/\.$/, '');
  const port = defaultPort(url);
  const hostIp = isIP(host);
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;

    let entryPort: string | undefined;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (v6) {
      entry = v6[1] ?? '';
      entryPort = v6[2];
    } else if (isIP(entry) !== 6 && !entry.includes('/')) {
      const m = /^(.*):(\d+)$/.exec(entry);
      if (m) {
        entry = m[1] ?? '';
        entryPort = m[2];
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;

    if (entry.includes('/')) {
      if (hostIp !== 0 && cidrContains(entry, host, hostIp)) return true;
      continue;
    }
    if (isIP(entry) !== 0) {
      if (hostIp !== 0 && sameAddress(entry, host)) return true;
      continue;
    }
    const domain = entry.replace(/^\*?\./, '').replace(/\.$/, '');
    if (domain === '') continue;
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

function sameAddress(a: string, b: string): boolean {
  const family = isIP(a);
  if (family !== isIP(b)) return false;
  const list = new BlockList();
  list.addAddress(a, family === 6 ? 'ipv6' : 'ipv4');
  return list.check(b, family === 6 ? 'ipv6' : 'ipv4');
}

function cidrContains(cidr: string, address: string, family: number): boolean {
  const [net, bits] = cidr.split('/');
  const prefix = Number(bits);
  if (net === undefined || !Number.isInteger(prefix) || isIP(net) !== family) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (prefix < 0 || prefix > (family === 6 ? 128 : 32)) return false;
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return list.check(address, type);
}
