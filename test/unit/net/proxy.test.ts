import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { HttpClient, type HttpClientOptions } from '../../../src/net/http-client.js';
import { bypassesProxy, isLoopbackHost, proxyFor, proxySettingsFromEnv } from '../../../src/net/proxy.js';
import { TestHttpServer, TestProxy, selfSignedCert } from '../../helpers/http-server.js';

describe('NO_PROXY matching', () => {
  const cases: [string, string, boolean][] = [
    ['http://example.com/x', '*', true],
    ['http://example.com/x', 'example.com', true],
    ['http://a.b.example.com/x', 'example.com', true],
    ['http://a.example.com/x', '.example.com', true],
    ['http://example.com/x', '.example.com', true],
    ['http://a.example.com/x', '*.example.com', true],
    ['http://notexample.com/x', 'example.com', false],
    ['http://example.com.evil/x', 'example.com', false],
    ['http://EXAMPLE.com./x', 'Example.COM', true],
    ['http://example.com:8080/x', 'example.com:8080', true],
    ['http://example.com/x', 'example.com:8080', false],
    ['https://example.com/x', 'example.com:443', true],
    ['http://10.1.2.3/x', '10.1.2.3', true],
    ['http://10.1.2.3/x', '10.0.0.0/8', true],
    ['http://11.1.2.3/x', '10.0.0.0/8', false],
    ['http://10.1.2.3:5000/x', '10.1.2.3:5000', true],
    ['http://[2001:db8::1]/x', '2001:db8::1', true],
    ['http://[2001:db8::1]/x', '2001:db8:0:0:0:0:0:1', true],
    ['http://[2001:db8::1]:5000/x', '[2001:db8::1]:5000', true],
    ['http://[2001:db8::1]/x', '2001:db8::/32', true],
    ['http://registry.internal/x', 'foo.com, registry.internal ,bar', true],
    ['http://registry.internal/x', 'foo.com bar.org', false],
    ['http://example.com/x', '', false],
  ];
  it.each(cases)('%s with NO_PROXY=%j → bypass %s', (url, noProxy, bypass) => {
    expect(bypassesProxy(new URL(url), noProxy)).toBe(bypass);
  });

  it('never proxies loopback targets', () => {
    for (const h of ['localhost', 'reg.localhost', '127.0.0.1', '127.8.9.10', '[::1]']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['example.com', '10.0.0.1', '[2001:db8::1]', 'localhost.example.com']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('reads the proxy variables from the given env, upper case first, no cross-scheme fallback', () => {
    const s = proxySettingsFromEnv({ http_proxy: 'proxy:3128', HTTPS_PROXY: 'http://secure:1', https_proxy: 'http://lower:2', no_proxy: 'internal' });
    expect(s).toEqual({ httpProxy: 'http://proxy:3128', httpsProxy: 'http://secure:1', noProxy: 'internal' });
    expect(proxyFor(new URL('http://example.com/'), s)).toBe('http://proxy:3128');
    expect(proxyFor(new URL('https://example.com/'), s)).toBe('http://secure:1');
    expect(proxyFor(new URL('https://a.internal/'), s)).toBeUndefined();
    expect(proxyFor(new URL('https://127.0.0.1:5000/'), s)).toBeUndefined();
    const httpOnly = proxySettingsFromEnv({ HTTP_PROXY: 'http://p:1', HTTPS_PROXY: '' });
    expect(proxyFor(new URL('https://example.com/'), httpOnly)).toBeUndefined();
  });
});

describe('through a real proxy', () => {
  const data = randomBytes(200_000);
  const sha = createHash('sha256').update(data).digest('hex');
  const NAME = 'files.cake.test';
  let server: TestHttpServer;
  let proxy: TestProxy;
  let dir: string;
  let n = 0;
  const clients: HttpClient[] = [];
  const client = (opts: HttpClientOptions): HttpClient => {
    const c = new HttpClient({ baseDelayMs: 5, retries: 1, ...opts });
    clients.push(c);
    return c;
  };
  const named = (path: string): string => `http://${NAME}:${server.port}${path}`;

  beforeAll(async () => {
    server = await TestHttpServer.start();
    server.file('/blob', data);
    proxy = await TestProxy.start({ hosts: { [NAME]: '127.0.0.1' } });
    dir = await mkdtemp(join(tmpdir(), 'cake-proxy-'));
  });
  afterAll(async () => {
    await server.close();
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.reset();
    proxy.requests.length = 0;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  it('sends http requests through HTTP_PROXY in absolute form', async () => {
    const res = await client({ env: { HTTP_PROXY: proxy.url } }).download(named('/blob'), join(dir, `p${++n}`), { expectedSha256: sha });
    expect(res.sha256).toBe(sha);
    expect(proxy.requests.map((r) => [r.method, r.target])).toEqual([['GET', named('/blob')]]);
    expect(server.requestsTo('/blob')[0]?.headers.host).toBe(`${NAME}:${server.port}`);
  });

  it('honours lower-case http_proxy and proxy credentials from the URL', async () => {
    const authed = await TestProxy.start({ hosts: { [NAME]: '127.0.0.1' }, auth: 'user:p@ss' });
    try {
      const url = `http://user:${encodeURIComponent('p@ss')}@127.0.0.1:${authed.port}`;
      const res = await client({ env: { http_proxy: url } }).request(named('/blob'));
      expect(res.body.equals(data)).toBe(true);
      expect(authed.requests[0]?.headers['proxy-authorization']).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
      expect(server.requestsTo('/blob')[0]?.headers['proxy-authorization']).toBeUndefined();

      const err = await client({ env: { http_proxy: authed.url } })
        .request(named('/blob'))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CakeError);
      expect((err as CakeError).message).toBe(
        `cannot reach ${NAME}:${server.port}: the proxy wants credentials (407 Proxy Authentication Required) via proxy 127.0.0.1:${authed.port}`,
      );
    } finally {
      await authed.close();
    }
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    const res = await client({ env: { HTTP_PROXY: proxy.url, NO_PROXY: `example.org,.cake.test` }, resolve: { [NAME]: '127.0.0.1' } }).request(named('/blob'));
    expect(res.body.equals(data)).toBe(true);
    expect(proxy.requests).toHaveLength(0);
    expect(server.requestsTo('/blob')).toHaveLength(1);
  });

  it('goes direct for loopback addresses even with a proxy set', async () => {
    const res = await client({ env: { HTTP_PROXY: proxy.url } }).request(server.url('/blob'));
    expect(res.status).toBe(200);
    expect(proxy.requests).toHaveLength(0);
  });

  it('names the proxy when it cannot be reached', async () => {
    const dead = await TestProxy.start();
    const deadUrl = dead.url;
    await dead.close();
    const err = (await client({ env: { HTTP_PROXY: deadUrl } })
      .request(named('/blob'))
      .catch((e: unknown) => e)) as CakeError;
    expect(err).toBeInstanceOf(CakeError);
    expect(err.code).toBe('network');
    expect(err.message).toBe(`cannot reach ${NAME}:${server.port}: connection refused (ECONNREFUSED) via proxy ${new URL(deadUrl).host}`);
    expect(err.hint).toMatch(/NO_PROXY/);
  });

  describe('https', () => {
    let secure: TestHttpServer;
    let cert: string;
    beforeAll(async () => {
      const pair = selfSignedCert(['127.0.0.1', NAME]);
      cert = pair.cert;
      secure = await TestHttpServer.start({ tls: pair });
      secure.file('/blob', data);
    });
    afterAll(() => secure.close());
    beforeEach(() => secure.reset());

    it('tunnels https through HTTPS_PROXY with CONNECT and verifies the server certificate', async () => {
      const url = `https://${NAME}:${secure.port}/blob`;
      const res = await client({ env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: 'http://127.0.0.1:1' }, ca: cert }).download(url, join(dir, `p${++n}`), {
        expectedSha256: sha,
      });
      expect(res.sha256).toBe(sha);
      expect(proxy.requests.map((r) => [r.method, r.target])).toEqual([['CONNECT', `${NAME}:${secure.port}`]]);
      expect(secure.requestsTo('/blob')).toHaveLength(1);
    });

    it('rejects an untrusted certificate at once with a network error', async () => {
      const err = (await client({ retries: 3 })
        .request(secure.url('/blob'))
        .catch((e: unknown) => e)) as CakeError;
      expect(err).toBeInstanceOf(CakeError);
      expect(err.code).toBe('network');
      expect(err.message).toMatch(/^cannot reach 127\.0\.0\.1:\d+: TLS: /);
      expect(err.hint).toMatch(/certificate/);
      expect(secure.requests).toHaveLength(0);
    });

    it('trusts an extra CA for direct connections', async () => {
      const res = await client({ ca: cert }).request(secure.url('/blob'));
      expect(res.body.equals(data)).toBe(true);
    });
  });
});
