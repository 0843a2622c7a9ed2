import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import { HttpClient } from '../../../src/net/http-client.js';

// Servers that close the connection right after the body (HTTP/1.0 like `python3 -m http.server`,
// or `Connection: close`), read by a consumer slower than the loopback link, so that undici's parser
// is paused under backpressure when the FIN arrives (issue 15 item 8: it used to crash the process).

const body = randomBytes(3 * 1024 * 1024 + 17);
const sha = createHash('sha256').update(body).digest('hex');

type Framing = 'length-1.0' | 'length-close' | 'eof' | 'chunked-close' | 'short';

let server: net.Server;
let port: number;
let dir: string;

function respond(sock: net.Socket, framing: Framing): void {
  const head: string[] = [];
  if (framing === 'length-1.0') head.push('HTTP/1.0 200 OK', `Content-Length: ${body.length}`);
  if (framing === 'length-close') head.push('HTTP/1.1 200 OK', `Content-Length: ${body.length}`, 'Connection: close');
  if (framing === 'eof') head.push('HTTP/1.0 200 OK');
  if (framing === 'chunked-close') head.push('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Connection: close');
  if (framing === 'short') head.push('HTTP/1.0 200 OK', `Content-Length: ${body.length + 1000}`);
  sock.write(`${head.join('\r\n')}\r\n\r\n`);
  if (framing === 'chunked-close') {
    for (let off = 0; off < body.length; off += 100_000) {
      const part = body.subarray(off, off + 100_000);
      sock.write(`${part.length.toString(16)}\r\n`);
      sock.write(part);
      sock.write('\r\n');
    }
    sock.write('0\r\n\r\n');
  } else {
    sock.write(body);
  }
  sock.end();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cake-close-'));
  server = net.createServer((sock) => {
    sock.on('error', () => {});
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = /^[A-Z]+ (\S+)/.exec(buf)?.[1] ?? '/';
      buf = '';
      respond(sock, path.slice(1) as Framing);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

const url = (f: Framing): string => `http://127.0.0.1:${port}/${f}`;

/** Reads the stream with a pause after every chunk, so the socket's FIN arrives while undici is paused. */
async function slowRead(client: HttpClient, f: Framing): Promise<Buffer> {
  const res = await client.stream(url(f));
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    await new Promise((r) => setTimeout(r, 2));
  }
  return Buffer.concat(chunks);
}

describe('servers that close the connection after the body', () => {
  for (const f of ['length-1.0', 'length-close', 'eof', 'chunked-close'] as const) {
    it(`streams a ${f} body to a slow reader without crashing`, async () => {
      const client = new HttpClient({ env: {}, retries: 0 });
      try {
        const got = await slowRead(client, f);
        expect(got.length).toBe(body.length);
        expect(createHash('sha256').update(got).digest('hex')).toBe(sha);
      } finally {
        await client.close();
      }
    });
  }

  it('downloads and requests from such a server, many times over one client', async () => {
    const client = new HttpClient({ env: {}, retries: 0 });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client.download(url('length-1.0'), join(dir, `part-${i}`), { expectedSha256: sha });
        expect(res.size).toBe(body.length);
        const small = await client.request(url('eof'));
        expect(small.body.equals(body)).toBe(true);
      }
    } finally {
      await client.close();
    }
  });

  it('a body cut short of its Content-Length is an error, never a short success', async () => {
    const client = new HttpClient({ env: {}, retries: 0 });
    try {
      const err = await slowRead(client, 'short').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CakeError);
      expect((err as CakeError).message).toMatch(/127\.0\.0\.1/);
    } finally {
      await client.close();
    }
  });
});
