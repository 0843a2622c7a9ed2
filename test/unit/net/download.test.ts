import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import type { Logger } from '../../../src/model/logger.js';
import { HttpClient, type HttpClientOptions } from '../../../src/net/http-client.js';
import { TestHttpServer } from '../../helpers/http-server.js';

const data = randomBytes(1024 * 1024 + 123);
const sha = createHash('sha256').update(data).digest('hex');

let server: TestHttpServer;
let dir: string;
let part: string;
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

/** A logger that records messages and lets a test act on progress updates. */
function recordingLogger(onProgress?: (done: number) => void) {
  const lines: string[] = [];
  const bars: { label: string; total: number | undefined; last: number; stopped: boolean }[] = [];
  const logger: Logger = {
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    debug: (m) => lines.push(`debug ${m}`),
    progress(label, total) {
      const bar = { label, total, last: 0, stopped: false };
      bars.push(bar);
      return {
        update(done) {
          bar.last = done;
          onProgress?.(done);
        },
        stop() {
          bar.stopped = true;
        },
      };
    },
  };
  return { logger, lines, bars };
}

beforeAll(async () => {
  server = await TestHttpServer.start();
  server.file('/blob', data);
  dir = await mkdtemp(join(tmpdir(), 'cake-net-'));
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
beforeEach(() => {
  server.reset();
  part = join(dir, `part-${++n}`);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('HttpClient.download', () => {
  it('downloads, hashes and verifies a whole file', async () => {
    const { logger, bars } = recordingLogger();
    const res = await client({ logger }).download(server.url('/blob'), part, {
      expectedSha256: `sha256:${sha.toUpperCase()}`,
      expectedSize: data.length,
      progressLabel: 'blob',
    });
    expect(res).toEqual({ sha256: sha, size: data.length, resumed: false, attempts: 1 });
    expect((await readFile(part)).equals(data)).toBe(true);
    const [req] = server.requestsTo('/blob');
    expect(req?.headers['user-agent']).toMatch(/^cake\/\d+\.\d+/);
    expect(req?.headers.range).toBeUndefined();
    expect(bars).toEqual([{ label: 'blob', total: data.length, last: data.length, stopped: true }]);
  });

  it('deletes the partial file on a sha256 mismatch and names both digests', async () => {
    const wrong = '0'.repeat(64);
    const err = await rejection(client().download(server.url('/blob'), part, { expectedSha256: wrong }));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toBe(`sha256 mismatch for ${server.url('/blob')}: expected ${wrong}, got ${sha}`);
    expect(existsSync(part)).toBe(false);
  });

  it('fails on a size larger than expected and deletes the partial file', async () => {
    const err = await rejection(client().download(server.url('/blob'), part, { expectedSize: 1000 }));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toMatch(/size mismatch .* expected 1000 bytes/);
    expect(existsSync(part)).toBe(false);
  });

  it('resumes with Range after a dropped connection, without fetching the file twice', async () => {
    server.fail('/blob', { type: 'drop', afterBytes: 300_000 });
    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, size: data.length, resumed: true, attempts: 2 });
    expect((await readFile(part)).equals(data)).toBe(true);
    const reqs = server.requestsTo('/blob');
    expect(reqs).toHaveLength(2);
    expect(reqs[0]?.fault).toBe('drop');
    // undici drops what it had buffered but not yet handed over when the socket dies: the resume
    // starts where the file ends, at most a buffer's worth before the cut.
    const from = Number(/^bytes=(\d+)-$/.exec(String(reqs[1]?.headers.range))?.[1]);
    expect(from).toBeGreaterThan(300_000 - 128 * 1024);
    expect(from).toBeLessThanOrEqual(300_000);
    expect(reqs[1]?.headers['if-range']).toMatch(/^"[0-9a-f]+"$/);
    expect(reqs[1]?.status).toBe(206);
    expect(server.bytesServed('/blob')).toBe(data.length + (300_000 - from));
  });

  it('keeps resuming over repeated drops as long as each attempt makes progress', async () => {
    for (const bytes of [100_000, 200_000, 200_000, 200_000, 200_000, 100_000]) server.fail('/blob', { type: 'drop', afterBytes: bytes });
    const res = await client({ retries: 2 }).download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: true, attempts: 7 });
    expect(server.bytesServed('/blob')).toBeLessThan(data.length * 1.5);
  });

  it('restarts from 0 when the server ignores Range (200), overwriting a bad prefix', async () => {
    await writeFile(part, randomBytes(100_000));
    server.fail('/blob', { type: 'ignore-range' });
    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, size: data.length, resumed: false, attempts: 1 });
    expect(server.requestsTo('/blob')[0]?.headers.range).toBe('bytes=100000-');
    expect((await readFile(part)).equals(data)).toBe(true);
  });

  it('restarts from 0 when a 206 starts elsewhere than asked', async () => {
    await writeFile(part, data.subarray(0, 50_000));
    server.fail('/blob', { type: 'wrong-range', start: 0 });
    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: false, attempts: 2 });
    const reqs = server.requestsTo('/blob');
    expect(reqs.map((r) => r.headers.range)).toEqual(['bytes=50000-', undefined]);
  });

  it('re-hashes a prefix left by an earlier run and resumes after it', async () => {
    await writeFile(part, data.subarray(0, 400_000));
    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: true, attempts: 1 });
    expect(server.bytesServed('/blob')).toBe(data.length - 400_000);
  });

  it('downloads again from scratch once when a prefix from an earlier run does not verify', async () => {
    await writeFile(part, randomBytes(400_000)); // e.g. an older version of the file
    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: false, attempts: 2 });
    expect(server.requestsTo('/blob').map((r) => r.headers.range)).toEqual(['bytes=400000-', undefined]);
    expect((await readFile(part)).equals(data)).toBe(true);
  });

  it('verifies a part file that is already complete without a request', async () => {
    await writeFile(part, data);
    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha, expectedSize: data.length });
    expect(res).toEqual({ sha256: sha, size: data.length, resumed: true, attempts: 0 });
    expect(server.requests).toHaveLength(0);
  });

  it('treats a 416 for a complete part file as done', async () => {
    await writeFile(part, data);
    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: true, attempts: 1 });
    expect(server.requestsTo('/blob')[0]?.status).toBe(416);
  });

  it('retries 503 and 429, honouring Retry-After', async () => {
    server.fail('/blob', { type: 'status', status: 503, retryAfter: 1 });
    server.fail('/blob', { type: 'status', status: 429, retryAfter: new Date(Date.now() - 5000).toUTCString() });
    const t0 = Date.now();
    const res = await client({ baseDelayMs: 1 }).download(server.url('/blob'), part, { expectedSha256: sha });
    const elapsed = Date.now() - t0;
    expect(res).toMatchObject({ sha256: sha, attempts: 3 });
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(5000);
    expect(server.requestsTo('/blob').map((r) => r.status)).toEqual([503, 429, 200]);
  });

  it('gives up after the retries with an http error naming the status', async () => {
    server.fail('/blob', { type: 'status', status: 502 }, 3);
    const err = await rejection(client({ retries: 2 }).download(server.url('/blob'), part));
    expect(err.code).toBe('http');
    expect(err.message).toBe(`GET ${server.url('/blob')}: 502 Bad Gateway`);
    expect(err.hint).toMatch(/3 attempts/);
    expect(server.requestsTo('/blob')).toHaveLength(3);
  });

  it('fails on 404 at once with an http error and a hint', async () => {
    const err = await rejection(client().download(server.url('/missing'), part));
    expect(err.code).toBe('http');
    expect(err.message).toBe(`GET ${server.url('/missing')}: 404 Not Found`);
    expect(err.hint).toMatch(/127\.0\.0\.1:\d+ has nothing/);
    expect(server.requests).toHaveLength(1);
  });

  it('reports an unreachable host as a network error after the retries', async () => {
    const dead = await TestHttpServer.start();
    const url = dead.url('/x');
    await dead.close();
    const { logger, lines } = recordingLogger();
    const err = await rejection(client({ logger, retries: 3 }).download(url, part));
    expect(err.code).toBe('network');
    expect(err.message).toBe(`cannot reach ${new URL(url).host}: connection refused (ECONNREFUSED)`);
    expect(err.hint).toMatch(/NO_PROXY/);
    expect(err.hint).toMatch(/unreachable from this machine/);
    expect(lines.filter((l) => l.includes('retrying'))).toHaveLength(3);
  });

  it('retries a stalled body after the idle timeout and resumes', async () => {
    server.fail('/blob', { type: 'stall', afterBytes: 65_536 });
    const res = await client({ bodyTimeoutMs: 300 }).download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: true, attempts: 2 });
    expect(server.requestsTo('/blob')[1]?.headers.range).toBe('bytes=65536-');
  });

  it('gives up once a server that sends a little and stalls has used up the stall budget', async () => {
    // Each attempt moves a few KiB and then goes silent: without a budget this went on for 25 attempts.
    for (let i = 0; i < 20; i++) server.fail('/blob', { type: 'stall', afterBytes: 4096 * (i + 1) });
    const { logger, lines } = recordingLogger();
    const err = await rejection(client({ bodyTimeoutMs: 300, maxStallMs: 1000, logger }).download(server.url('/blob'), part, { expectedSha256: sha }));
    expect(err.code).toBe('network');
    expect(err.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/blob: the server stopped sending: no data for \d+ s in total over [3-5] attempts \(received \d+ of 1048699 bytes\)$/);
    expect(err.hint).toMatch(/try again later/);
    expect(server.requestsTo('/blob').length).toBeLessThanOrEqual(5);
    // Every stall is said as it happens (on a TTY or not), then the final error.
    const warned = lines.filter((l) => l.startsWith('warn'));
    expect(warned.length).toBe(server.requestsTo('/blob').length - 1);
    expect(warned[0]).toMatch(/^warn GET http:\/\/\S+\/blob: no data for 0 s \(received 4096 of 1048699 bytes\); asking again \(gives up after 1 s more without data\)$/);
  });

  it('gives up on a server that trickles a few bytes now and then (never silent long enough for the idle timeout), in bounded time', async () => {
    // 200 bytes every 50 ms: 4 KiB/s, under the 64 KiB floor of each 400 ms window
    server.handle('/trickle', async (_req, res) => {
      res.writeHead(200, { 'content-length': String(data.length) });
      for (let at = 0; at < data.length && !res.destroyed; at += 200) {
        res.write(data.subarray(at, at + 200));
        await new Promise((r) => setTimeout(r, 50));
      }
      res.end();
    });
    const { logger, lines } = recordingLogger();
    const t0 = Date.now();
    const err = await rejection(client({ bodyTimeoutMs: 400, maxStallMs: 1200, logger }).download(server.url('/trickle'), part, { expectedSha256: sha }));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err.code).toBe('network');
    expect(err.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/trickle: the server is far too slow: less than 64 KiB in 0 s, 1 s in total over 3 attempts \(received \d+ of 1048699 bytes\)$/);
    const warned = lines.filter((l) => l.startsWith('warn'));
    expect(warned).toHaveLength(2);
    expect(warned[0]).toMatch(/: less than 64 KiB in 0 s \(received \d+ of 1048699 bytes\); asking again/);
  });

  it('a slow but steady server is not cut off: each window brings more than the floor', async () => {
    // 128 KiB every 100 ms: about a second for the whole file, windows of 300 ms
    server.handle('/steady', async (_req, res) => {
      res.writeHead(200, { 'content-length': String(data.length) });
      for (let at = 0; at < data.length; at += 128 * 1024) {
        res.write(data.subarray(at, at + 128 * 1024));
        await new Promise((r) => setTimeout(r, 100));
      }
      res.end();
    });
    const res = await client({ bodyTimeoutMs: 300, maxStallMs: 600 }).download(server.url('/steady'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, attempts: 1 });
  });

  it('a dribble of tiny attempts does not count as progress', async () => {
    for (let i = 0; i < 20; i++) server.fail('/blob', { type: 'drop', afterBytes: 1000 * (i + 1) });
    const err = await rejection(client({ retries: 2 }).download(server.url('/blob'), part, { expectedSha256: sha }));
    expect(err.code).toBe('network');
    expect(server.requestsTo('/blob')).toHaveLength(3);
  });

  it('retries when the headers do not arrive in time', async () => {
    // undici checks the headers timeout on a coarse (~0.5-1 s) timer wheel
    server.fail('/blob', { type: 'delay', ms: 3000 });
    const res = await client({ timeoutMs: 200 }).download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, attempts: 2 });
  });

  it('stops on abort with an interrupted error and leaves a prefix that a later call resumes', async () => {
    const ac = new AbortController();
    server.fail('/blob', { type: 'stall', afterBytes: 200_000 });
    const { logger } = recordingLogger((done) => {
      if (done >= 200_000) ac.abort();
    });
    const err = await rejection(
      client({ logger }).download(server.url('/blob'), part, { expectedSha256: sha, signal: ac.signal, progressLabel: 'blob' }),
    );
    expect(err.code).toBe('interrupted');
    expect(err.exitCode).toBe(130);
    const kept = await readFile(part);
    expect(kept.length).toBe(200_000);
    expect(kept.equals(data.subarray(0, kept.length))).toBe(true);

    const res = await client().download(server.url('/blob'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: true, attempts: 1 });
    expect(server.requestsTo('/blob')[1]?.headers.range).toBe('bytes=200000-');
  });

  it('stops waiting for a retry when aborted', async () => {
    server.fail('/blob', { type: 'status', status: 503, retryAfter: 30 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const err = await rejection(client().download(server.url('/blob'), part, { signal: ac.signal }));
    expect(err.code).toBe('interrupted');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('does not start when the signal is already aborted', async () => {
    const err = await rejection(client().download(server.url('/blob'), part, { signal: AbortSignal.abort() }));
    expect(err.code).toBe('interrupted');
    expect(server.requests).toHaveLength(0);
  });
});

describe('redirects', () => {
  let other: TestHttpServer;
  beforeAll(async () => {
    other = await TestHttpServer.start();
    other.file('/blob', data);
  });
  afterAll(() => other.close());
  beforeEach(() => other.reset());

  const headers = { Authorization: 'Bearer secret', Cookie: 'session=1', 'X-Custom': 'kept' };

  it('strips Authorization and Cookie when a redirect changes origin', async () => {
    server.redirect('/to-other', other.url('/blob'), 307);
    const res = await client().download(server.url('/to-other'), part, { headers, expectedSha256: sha });
    expect(res.sha256).toBe(sha);
    expect(server.requestsTo('/to-other')[0]?.headers.authorization).toBe('Bearer secret');
    const got = other.requestsTo('/blob')[0]?.headers;
    expect(got?.authorization).toBeUndefined();
    expect(got?.cookie).toBeUndefined();
    expect(got?.['x-custom']).toBe('kept');
  });

  it('keeps Authorization on a same-origin redirect', async () => {
    server.redirect('/same', '/blob', 301);
    await client().download(server.url('/same'), part, { headers, expectedSha256: sha });
    expect(server.requestsTo('/blob')[0]?.headers.authorization).toBe('Bearer secret');
  });

  it('does not restore credentials when a chain comes back to the first origin', async () => {
    server.redirect('/out', other.url('/back'));
    other.redirect('/back', server.url('/blob'));
    await client().download(server.url('/out'), part, { headers, expectedSha256: sha });
    expect(server.requestsTo('/blob')[0]?.headers.authorization).toBeUndefined();
  });

  it('asks the first URL again on a retry and resumes through the redirect', async () => {
    server.redirect('/to-other', other.url('/blob'));
    other.fail('/blob', { type: 'drop', afterBytes: 500_000 });
    const res = await client().download(server.url('/to-other'), part, { expectedSha256: sha });
    expect(res).toMatchObject({ sha256: sha, resumed: true, attempts: 2 });
    expect(server.requestsTo('/to-other')).toHaveLength(2);
    expect(other.requestsTo('/blob')[1]?.headers.range).toMatch(/^bytes=(4\d{5}|500000)-$/);
  });

  it('gives up after 10 redirects', async () => {
    server.redirect('/loop', '/loop');
    const err = await rejection(client().download(server.url('/loop'), part));
    expect(err.code).toBe('http');
    expect(err.message).toMatch(/more than 10 redirects/);
    expect(server.requestsTo('/loop')).toHaveLength(11);
  });

  it('refuses a redirect from a loopback server to plain HTTP on another host, unless insecure', async () => {
    // cake.example resolves to 127.0.0.1 here, but by name it is a host on the network.
    const target = `http://cake.example:${new URL(other.origin).port}/blob`;
    server.redirect('/downgrade', target);
    const strict = client({ resolve: { 'cake.example': '127.0.0.1' } });
    const err = await rejection(strict.download(server.url('/downgrade'), part, { expectedSha256: sha }));
    expect(err.code).toBe('http');
    expect(err.message).toBe(`GET ${server.url('/downgrade')}: refusing the redirect from ${new URL(server.origin).host} to plain HTTP at ${target}`);
    expect(err.hint).toMatch(/--insecure/);
    expect(other.requestsTo('/blob')).toHaveLength(0);
    const res = await client({ resolve: { 'cake.example': '127.0.0.1' }, insecure: true }).download(server.url('/downgrade'), part, { expectedSha256: sha });
    expect(res.sha256).toBe(sha);
    expect(other.requestsTo('/blob')).toHaveLength(1);
  });

  it('names the redirect target in status errors', async () => {
    server.redirect('/gone', other.url('/nothing'));
    const err = await rejection(client().download(server.url('/gone'), part));
    expect(err.message).toBe(`GET ${server.url('/gone')}: 404 Not Found (redirected to ${new URL(other.origin).host})`);
  });
});

describe('part file state', () => {
  it('leaves no file behind for a 404', async () => {
    await rejection(client().download(server.url('/missing'), part));
    expect(existsSync(part)).toBe(false);
  });

  it('keeps the received prefix after the retries run out', async () => {
    server.fail('/blob', { type: 'drop', afterBytes: 0 }, 2);
    server.fail('/blob', { type: 'drop', afterBytes: 0 });
    await writeFile(part, data.subarray(0, 10));
    const err = await rejection(client({ retries: 2 }).download(server.url('/blob'), part));
    expect(err.code).toBe('network');
    expect((await stat(part)).size).toBe(10);
  });
});
