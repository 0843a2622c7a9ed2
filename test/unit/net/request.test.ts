import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { HttpClient, type HttpClientOptions } from '../../../src/net/http-client.js';
import { TestHttpServer } from '../../helpers/http-server.js';

const data = randomBytes(300_000);
let server: TestHttpServer;
let other: TestHttpServer;
const clients: HttpClient[] = [];

function client(opts: HttpClientOptions = {}): HttpClient {
  const c = new HttpClient({ baseDelayMs: 5, env: {}, ...opts });
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<CakeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CakeError);
  return err as CakeError;
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  server = await TestHttpServer.start();
  other = await TestHttpServer.start();
  server.file('/index.json', JSON.stringify({ hello: 'world' }), { contentType: 'application/json' });
  server.file('/blob', data);
  server.handle('/echo', async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.stringify({ method: req.method, body: Buffer.concat(chunks).toString(), type: req.headers['content-type'] ?? null });
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] }).end(body);
  });
  other.file('/blob', data);
});

afterAll(async () => {
  await server.close();
  await other.close();
});

beforeEach(() => {
  server.reset();
  other.reset();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('HttpClient.request', () => {
  it('returns status, lower-case headers, body and final URL', async () => {
    const res = await client().request(server.url('/index.json'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body.toString())).toEqual({ hello: 'world' });
    expect(res.url).toBe(server.url('/index.json'));
  });

  it('sends a method, body and headers; joins repeated response headers', async () => {
    const res = await client().request(server.url('/echo'), { method: 'post', body: 'x=1', headers: { 'Content-Type': 'text/plain' } });
    expect(JSON.parse(res.body.toString())).toEqual({ method: 'POST', body: 'x=1', type: 'text/plain' });
    expect(res.headers['set-cookie']).toBe('a=1, b=2');
  });

  it('retries 429 then succeeds', async () => {
    server.fail('/index.json', { type: 'status', status: 429, retryAfter: 0 }, 2);
    const res = await client().request(server.url('/index.json'));
    expect(res.status).toBe(200);
    expect(server.requestsTo('/index.json').map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('retries a connection reset', async () => {
    server.fail('/index.json', { type: 'reset' });
    const res = await client().request(server.url('/index.json'));
    expect(res.status).toBe(200);
    expect(server.requestsTo('/index.json')).toHaveLength(2);
  });

  it('fails on 401 and 403 with hints, and returns statuses the caller accepts', async () => {
    server.fail('/index.json', { type: 'status', status: 401, headers: { 'www-authenticate': 'Bearer realm="x"' } });
    const e401 = await rejection(client().request(server.url('/index.json')));
    expect(e401.code).toBe('http');
    expect(e401.message).toBe(`GET ${server.url('/index.json')}: 401 Unauthorized`);
    expect(e401.hint).toMatch(/credentials/);

    server.fail('/index.json', { type: 'status', status: 403 });
    const e403 = await rejection(client().request(server.url('/index.json'), { method: 'HEAD' }));
    expect(e403.message).toBe(`HEAD ${server.url('/index.json')}: 403 Forbidden`);
    expect(e403.hint).toMatch(/denied/);

    server.fail('/index.json', { type: 'status', status: 401, headers: { 'www-authenticate': 'Bearer realm="x"' } });
    const ok = await client().request(server.url('/index.json'), { acceptStatuses: [401] });
    expect(ok.status).toBe(401);
    expect(ok.headers['www-authenticate']).toBe('Bearer realm="x"');
    const missing = await client().request(server.url('/nope'), { acceptStatuses: [404] });
    expect(missing.status).toBe(404);
  });

  it("a HEAD's Content-Length is the resource's size, not a body: no maxBytes refusal (issue 11 item 11)", async () => {
    const res = await client().request(server.url('/blob'), { method: 'HEAD', maxBytes: 1000 });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(data.length));
    expect(res.body.length).toBe(0);
  });

  it('enforces maxBytes, from Content-Length or while reading', async () => {
    const declared = await rejection(client().request(server.url('/blob'), { maxBytes: 1000 }));
    expect(declared.code).toBe('http');
    expect(declared.message).toMatch(/larger than 1000 bytes/);
    other.file('/chunked', data, { chunked: true });
    const streamed = await rejection(client().request(other.url('/chunked'), { maxBytes: 1000 }));
    expect(streamed.message).toMatch(/larger than 1000 bytes/);
  });

  it('turns a POST into a GET on 303 and strips credentials across origins', async () => {
    server.redirect('/post-then-see', other.url('/blob'), 303);
    const res = await client().request(server.url('/post-then-see'), {
      method: 'POST',
      body: 'payload',
      headers: { authorization: 'Basic abc', 'content-type': 'text/plain' },
    });
    expect(createHash('sha256').update(res.body).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(res.url).toBe(other.url('/blob'));
    const got = other.requestsTo('/blob')[0];
    expect(got?.method).toBe('GET');
    expect(got?.headers.authorization).toBeUndefined();
    expect(got?.headers['content-type']).toBeUndefined();
  });

  it('rejects an invalid URL', async () => {
    const err = await rejection(client().request('not a url'));
    expect(err.code).toBe('bad-source');
    expect((await rejection(client().request('ftp://example.com/x'))).code).toBe('bad-source');
  });

  it('is interrupted by its signal', async () => {
    server.fail('/index.json', { type: 'delay', ms: 2000 });
    const err = await rejection(client().request(server.url('/index.json'), { signal: AbortSignal.timeout(100) }));
    expect(err.code).toBe('interrupted');
  });
});

describe('HttpClient.stream', () => {
  it('streams a body', async () => {
    const res = await client().stream(server.url('/blob'));
    expect(res.status).toBe(200);
    expect((await readAll(res.body)).equals(data)).toBe(true);
  });

  it('streams from an offset with Range', async () => {
    const res = await client().stream(server.url('/blob'), { rangeStart: 1000 });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 1000-${data.length - 1}/${data.length}`);
    expect((await readAll(res.body)).equals(data.subarray(1000))).toBe(true);
  });

  it('reports a 200 answer to a range request so the caller can start over', async () => {
    server.fail('/blob', { type: 'ignore-range' });
    const res = await client().stream(server.url('/blob'), { rangeStart: 1000 });
    expect(res.status).toBe(200);
    expect((await readAll(res.body)).length).toBe(data.length);
  });

  it('rejects a 206 that starts elsewhere', async () => {
    server.fail('/blob', { type: 'wrong-range', start: 0 });
    const err = await rejection(client().stream(server.url('/blob'), { rangeStart: 1000 }));
    expect(err.code).toBe('http');
    expect(err.message).toMatch(/asked for bytes from 1000/);
  });

  it('retries until the headers arrive, then surfaces body failures as network CakeErrors', async () => {
    server.fail('/blob', { type: 'status', status: 503, retryAfter: 0 });
    server.fail('/blob', { type: 'drop', afterBytes: 50_000 });
    const res = await client().stream(server.url('/blob'));
    expect(server.requestsTo('/blob').map((r) => r.status)).toEqual([503, 200]);
    const err = await rejection(readAll(res.body));
    expect(err.code).toBe('network');
    expect(err.message).toMatch(/^cannot reach 127\.0\.0\.1:\d+: /);
  });

  it('maps an abort during the body to interrupted', async () => {
    server.fail('/blob', { type: 'stall', afterBytes: 10_000 });
    const ac = new AbortController();
    const res = await client().stream(server.url('/blob'), { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const err = await rejection(readAll(res.body));
    expect(err.code).toBe('interrupted');
  });

  it('closes the connection when the caller destroys the body', async () => {
    server.fail('/blob', { type: 'stall', afterBytes: 10_000 });
    const res = await client().stream(server.url('/blob'));
    res.body.destroy();
    const again = await client().request(server.url('/index.json'));
    expect(again.status).toBe(200);
  });
});
