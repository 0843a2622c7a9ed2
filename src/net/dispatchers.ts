import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { eofSafeFactory } from './eof-safe-connect.js';
import { proxyFor, type ProxySettings } from './proxy.js';

export interface DispatcherOptions {
  proxies: ProxySettings;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Extra trusted CA certificates (PEM), added to Node's bundled roots. */
  ca: string[] | undefined;
  /** host → IP overrides, like curl --resolve. */
  resolve: Record<string, string> | undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup that answers the overridden hosts itself and asks DNS for the rest. */
function makeLookup(resolve: Record<string, string>) {
  const table = new Map(Object.entries(resolve).map(([host, ip]) => [host.toLowerCase(), ip]));
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const ip = table.get(hostname.toLowerCase());
    if (ip === undefined) {
      dnsLookup(hostname, options, callback as (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family: number) => void);
      return;
    }
    const family = isIP(ip);
    if (options.all) callback(null, [{ address: ip, family }]);
    else callback(null, ip, family);
  };
}

/**
 * The undici dispatchers of one HttpClient: one direct Agent and one ProxyAgent per proxy URL,
 * created on first use so connections are pooled and reused across requests. Their sockets survive a
 * server closing the connection while a body is read slowly (see eof-safe-connect.ts).
 */
export class Dispatchers {
  private direct: Agent | undefined;
  private readonly viaProxy = new Map<string, ProxyAgent>();
  private readonly tls: { ca?: string[] };
  private readonly lookup: ReturnType<typeof makeLookup> | undefined;

  constructor(private readonly opts: DispatcherOptions) {
    this.tls = opts.ca === undefined ? {} : { ca: [...rootCertificates, ...opts.ca] };
    this.lookup = opts.resolve === undefined ? undefined : makeLookup(opts.resolve);
  }

  /** The proxy URL `url` goes through, if any. */
  proxyFor(url: URL): string | undefined {
    return proxyFor(url, this.opts.proxies);
  }

  get(url: URL): Dispatcher {
    const proxy = this.proxyFor(url);
    const { connectTimeoutMs, headersTimeoutMs, bodyTimeoutMs } = this.opts;
    const connect = { timeout: connectTimeoutMs, ...this.tls, ...(this.lookup ? { lookup: this.lookup } : {}) };
    if (proxy === undefined) {
      this.direct ??= new Agent({ connect, factory: eofSafeFactory, headersTimeout: headersTimeoutMs, bodyTimeout: bodyTimeoutMs });
      return this.direct;
    }
    let agent = this.viaProxy.get(proxy);
    if (agent === undefined) {
      agent = new ProxyAgent({
        uri: proxy,
        // http targets go as absolute-form requests (what every HTTP proxy speaks); https ones through CONNECT.
        proxyTunnel: false,
        // Every connection (to the proxy, or tunnelled through it) is made safe against a server's
        // close while a body is paused (see eof-safe-connect.ts).
        factory: eofSafeFactory,
        clientFactory: eofSafeFactory,
        proxyTls: connect,
        requestTls: { timeout: connectTimeoutMs, ...this.tls },
        headersTimeout: headersTimeoutMs,
        bodyTimeout: bodyTimeoutMs,
      });
      this.viaProxy.set(proxy, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    const all: Dispatcher[] = [...this.viaProxy.values()];
    if (this.direct) all.push(this.direct);
    this.direct = undefined;
    this.viaProxy.clear();
    await Promise.all(all.map((d) => d.close().catch(() => d.destroy())));
  }
}
