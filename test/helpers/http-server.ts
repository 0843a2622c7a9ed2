/**
 * Local HTTP(S) servers for tests, on 127.0.0.1 with ephemeral ports: a file server with Range
 * support and fault injection, a forward proxy, and a self-signed certificate maker.
 *
 * ```ts
 * const server = await TestHttpServer.start();
 * server.file('/blob', data);                              // GET/HEAD with Range, If-Range, ETag
 * server.fail('/blob', { type: 'drop', afterBytes: 1000 }); // next request: cut after 1000 body bytes
 * server.fail('/blob', { type: 'status', status: 503, retryAfter: 0 }, 2); // next 2 requests: 503
 * server.redirect('/old', other.url('/blob'));              // 302 to another origin
 * await client.download(server.url('/blob'), part);
 * server.requestsTo('/blob')[1]?.headers.range;             // 'bytes=1000-'
 * server.bytesServed('/blob');                              // body bytes written for that path
 * await server.close();
 * ```
 * Faults queue per path and are consumed in order, one per request, before the route answers.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  /** Lower-case names, as Node parses them. */
  headers: IncomingHttpHeaders;
  /** Status sent; 0 when the connection was cut before a status line. */
  status: number;
  /** Body bytes written to the socket for this request. */
  bytesSent: number;
  /** The fault applied to this request, if any. */
  fault?: Fault['type'];
}

export type Fault =
  /** Answer with this status (e.g. 429/503), with an optional Retry-After (seconds or HTTP date). */
  | { type: 'status'; status: number; retryAfter?: number | string; headers?: Record<string, string>; body?: string }
  /** Send the headers (full Content-Length) and `afterBytes` body bytes, then destroy the socket. */
  | { type: 'drop'; afterBytes: number }
  /** Destroy the socket without answering. */
  | { type: 'reset' }
  /** Send headers and `afterBytes` (default 0) body bytes, then go silent (until close()). */
  | { type: 'stall'; afterBytes?: number }
  /** Answer 200 with the whole file even when a Range was asked for. */
  | { type: 'ignore-range' }
  /** Answer a 206 whose Content-Range starts at `start` instead of where the Range asked. */
  | { type: 'wrong-range'; start: number }
  /** Wait `ms`, then answer normally. */
  | { type: 'delay'; ms: number };

export interface FileOptions {
  contentType?: string;
  /** Strong ETag; default a hash of the content; `false` sends none. */
  etag?: string | false;
  /** Omit Content-Length (chunked transfer). */
  chunked?: boolean;
  /** Never honour Range (always 200). */
  noRange?: boolean;
  headers?: Record<string, string>;
}

/** A custom route. `record` is this request's entry in `requests`; set `record.bytesSent` if it matters. */
export type Handler = (req: IncomingMessage, res: ServerResponse, record: RecordedRequest) => void | Promise<void>;

interface Served {
  content: Buffer;
  opts: FileOptions;
  etag: string | undefined;
}

const CHUNK = 16 * 1024;

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** Writes `data` in chunks with backpressure; resolves when the last chunk was flushed to the socket. */
async function writeBody(res: ServerResponse, record: RecordedRequest, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length && !res.destroyed; off += CHUNK) {
    const chunk = data.subarray(off, off + CHUNK);
    await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
    record.bytesSent += chunk.length;
  }
}

export class TestHttpServer {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  private readonly routes = new Map<string, Handler>();
  private readonly faults = new Map<string, Fault[]>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: http.Server | https.Server,
    readonly port: number,
    /** `http://127.0.0.1:PORT` (https when started with tls). */
    readonly origin: string,
  ) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Starts a server on 127.0.0.1; with `tls` (see selfSignedCert) it speaks HTTPS. */
  static async start(opts: { tls?: { key: string; cert: string } } = {}): Promise<TestHttpServer> {
    let self: TestHttpServer | undefined;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => void self?.dispatch(req, res);
    const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : http.createServer(onRequest);
    const port = await listen(server);
    self = new TestHttpServer(server, port, `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    return self;
  }

  /** Absolute URL of `path` on this server. */
  url(path = '/'): string {
    return `${this.origin}${path.startsWith('/') ? '' : '/'}${path}`;
  }

  /** Serves `content` at `path` (GET and HEAD) with Range, If-Range and ETag support. */
  file(path: string, content: Buffer | string, opts: FileOptions = {}): this {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const etag = opts.etag === false ? undefined : (opts.etag ?? `"${createHash('sha256').update(data).digest('hex').slice(0, 16)}"`);
    const served: Served = { content: data, opts, etag };
    return this.handle(path, (req, res, record) => this.serveFile(req, res, record, served));
  }

  /** Answers `status` (default 302) with `Location: location` (absolute or relative). */
  redirect(path: string, location: string, status = 302): this {
    return this.handle(path, (_req, res) => {
      res.writeHead(status, { location, 'content-length': '0' }).end();
    });
  }

  /** A custom handler for `path` (matched without the query string). */
  handle(path: string, handler: Handler): this {
    this.routes.set(path, handler);
    return this;
  }

  /** The next `times` requests to `path` get `fault` (queued after faults already pending). */
  fail(path: string, fault: Fault, times = 1): this {
    const queue = this.faults.get(path) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.faults.set(path, queue);
    return this;
  }

  /** Requests whose path (without query) is `path`. */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.split('?')[0] === path);
  }

  /** Body bytes written, for one path or in total. */
  bytesServed(path?: string): number {
    return (path === undefined ? this.requests : this.requestsTo(path)).reduce((n, r) => n + r.bytesSent, 0);
  }

  /** Forgets recorded requests and pending faults; routes stay. */
  reset(): void {
    this.requests.length = 0;
    this.faults.clear();
  }

  /** Stops listening and cuts every open connection (stalled ones included). */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const record: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, status: 0, bytesSent: 0 };
    this.requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    const origWriteHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
    res.writeHead = ((...args: unknown[]) => {
      record.status = args[0] as number;
      return origWriteHead(...args);
    }) as typeof res.writeHead;
    const fault = this.faults.get(path)?.shift();
    if (fault) record.fault = fault.type;
    try {
      if (fault?.type === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault?.type === 'status') {
        const headers: Record<string, string> = { 'content-type': 'text/plain', ...fault.headers };
        if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
        const body = fault.body ?? `${fault.status}\n`;
        res.writeHead(fault.status, { ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(body);
        return;
      }
      if (fault?.type === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
      const route = this.routes.get(path);
      if (!route) {
        res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10' }).end('not found\n');
        return;
      }
      if (fault) this.bodyFaults.set(record, fault);
      await route(req, res, record);
    } catch {
      res.destroy();
    }
  }

  /** Body-shaping faults (drop, stall, ignore-range, wrong-range) of requests being served. */
  private readonly bodyFaults = new WeakMap<RecordedRequest, Fault>();

  private async serveFile(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, f: Served): Promise<void> {
    const fault = this.bodyFaults.get(record);
    const size = f.content.length;
    const headers: Record<string, string> = {
      'content-type': f.opts.contentType ?? 'application/octet-stream',
      'accept-ranges': f.opts.noRange ? 'none' : 'bytes',
      ...f.opts.headers,
    };
    if (f.etag) headers.etag = f.etag;

    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const rangeApplies = range && !f.opts.noRange && fault?.type !== 'ignore-range' && (ifRange === undefined || ifRange === f.etag);
    if (range && rangeApplies) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(Number(range[2]), size - 1);
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' }).end();
        return;
      }
      status = 206;
      if (fault?.type === 'wrong-range') start = fault.start;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    const body = f.content.subarray(start, end + 1);
    if (!f.opts.chunked) headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (fault?.type === 'drop' || fault?.type === 'stall') {
      const n = fault.type === 'drop' ? fault.afterBytes : (fault.afterBytes ?? 0);
      res.flushHeaders();
      await writeBody(res, record, body.subarray(0, n));
      if (fault.type === 'drop') res.socket?.destroy();
      return; // a stall leaves the response open until close()
    }
    await writeBody(res, record, body);
    res.end();
  }
}

export interface ProxiedRequest {
  /** GET, CONNECT, ... */
  method: string;
  /** Absolute URL for forwarded requests, `host:port` for CONNECT. */
  target: string;
  headers: IncomingHttpHeaders;
}

/**
 * A forward HTTP proxy on 127.0.0.1: absolute-form requests for http targets and CONNECT tunnels
 * (for https targets). `hosts` maps host names to addresses, so tests can use names like
 * `files.cake.test` that only the proxy can resolve. With `auth: 'user:pass'` it answers 407 to
 * requests without that Basic Proxy-Authorization.
 */
export class TestProxy {
  /** Every request received (forwarded or refused), in order. */
  readonly requests: ProxiedRequest[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** `http://127.0.0.1:PORT`, the value for HTTP_PROXY/HTTPS_PROXY. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(opts: { hosts?: Record<string, string>; auth?: string } = {}): Promise<TestProxy> {
    const resolve = (host: string): string => opts.hosts?.[host.toLowerCase()] ?? host;
    const authorised = (headers: IncomingHttpHeaders): boolean =>
      opts.auth === undefined || headers['proxy-authorization'] === `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    let self: TestProxy | undefined;
    const server = http.createServer((req, res) => {
      self?.requests.push({ method: req.method ?? 'GET', target: req.url ?? '', headers: req.headers });
      if (!authorised(req.headers)) {
        res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', 'content-length': '0' }).end();
        return;
      }
      let target: URL;
      try {
        target = new URL(req.url ?? '');
      } catch {
        res.writeHead(400, { 'content-length': '0' }).end();
        return;
      }
      const headers = { ...req.headers };
      delete headers['proxy-authorization'];
      delete headers['proxy-connection'];
      const upstream = http.request(
        { host: resolve(target.hostname), port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('error', () => res.destroy());
          up.on('aborted', () => res.destroy());
        },
      );
      upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502, { 'content-length': '0' }).end()));
      req.pipe(upstream);
    });
    server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      self?.requests.push({ method: 'CONNECT', target: req.url ?? '', headers: req.headers });
      if (!authorised(req.headers)) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
        return;
      }
      const [host = '', port = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
      const upstream = net.connect(Number(port), resolve(host), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    const port = await listen(server);
    self = new TestProxy(server, port);
    return self;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const certCache = new Map<string, { key: string; cert: string }>();

/**
 * A throwaway self-signed certificate (P-256, valid one day) for `names` (IPs and DNS names), made
 * with the `openssl` tool; memoised per process. Trust it on the client side with its `cert`.
 */
export function selfSignedCert(names: string[] = ['127.0.0.1', 'localhost']): { key: string; cert: string } {
  const id = names.join(',');
  const cached = certCache.get(id);
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'cake-cert-'));
  try {
    const san = names.map((n) => (net.isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=cake-test', '-addext', `subjectAltName=${san}`,
    ], { stdio: 'pipe' });
    const pair = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    certCache.set(id, pair);
    return pair;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
