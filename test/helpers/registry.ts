/**
 * A real registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1 with
 * filesystem storage in a temp dir, optionally behind htpasswd (Basic, bcrypt) or token auth (a
 * small token server here issuing ES256 JWTs with an x5c header the registry trusts). Plus a
 * reverse proxy that injects faults (429/503, dropped or corrupted bodies, redirects) in front of
 * it, and a raw uploader for images built byte by byte.
 *
 * ```ts
 * const reg = await TestRegistry.start({ auth: 'token', users: { alice: 'pw' }, anonymousPull: /^public\// });
 * reg.host;                                // '127.0.0.1:PORT'
 * await uploadImage(reg, 'public/x', 'v1', image, { user: 'alice', password: 'pw' });
 * const proxy = await FaultProxy.start(reg.origin);
 * proxy.fail(/\/blobs\/sha256:/, { type: 'drop', afterBytes: 1000 });
 * await reg.stop();
 * ```
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCert } from './http-server.js';
import { haveCommand } from './tools.js';

/** What the registry tests run: the registry itself, and skopeo and umoci to read back what cake pushes. */
export const REGISTRY_TOOLS = ['docker-registry', 'skopeo', 'umoci'];

export function haveRegistryTools(): boolean {
  return haveCommand(...REGISTRY_TOOLS);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** bcrypt hashes for htpasswd (cost 4: the registry checks them on every request). */
function bcrypt(password: string): string {
  const script = 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))';
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      return execFileSync(py, ['-W', 'ignore', '-c', script, password], { encoding: 'utf8' }).trim();
    } catch {
      // try the next one
    }
  }
  return execFileSync('htpasswd', ['-nbBC', '4', 'x', password], { encoding: 'utf8' }).trim().replace(/^x:/, '');
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export interface TokenRequest {
  method: string;
  /** Basic user, `refresh:<user>` for an identity token, or undefined (anonymous). */
  user: string | undefined;
  service: string | undefined;
  scopes: string[];
  status: number;
}

/**
 * Issues registry tokens: `users` authenticate with Basic (GET) and `refreshTokens` with
 * grant_type=refresh_token (POST); authenticated users get pull and push everywhere, anonymous
 * ones pull on repositories matching `anonymousPull`.
 */
export class TokenServer {
  readonly requests: TokenRequest[] = [];
  private constructor(
    private readonly server: http.Server,
    readonly port: number,
    private readonly key: string,
    private readonly certDer: string,
    private readonly opts: TokenServerOptions,
  ) {}

  get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  static async start(opts: TokenServerOptions): Promise<TokenServer> {
    const { key, cert } = selfSignedCert(['cake-token-issuer']);
    const der = cert.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    let self: TokenServer | undefined;
    const server = http.createServer((req, res) => void self?.handle(req, res));
    const port = await listen(server);
    self = new TokenServer(server, port, key, der, opts);
    return self;
  }

  static certPem(): string {
    return selfSignedCert(['cake-token-issuer']).cert;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    let scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    let service = url.searchParams.get('service') ?? undefined;
    let user: string | undefined;
    const reply = (status: number, body: unknown): void => {
      this.requests.push({ method: req.method ?? 'GET', user, service, scopes, status });
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
    };
    if (req.method === 'POST') {
      let body = '';
      for await (const c of req) body += String(c);
      const form = new URLSearchParams(body);
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      service = form.get('service') ?? undefined;
      const owner = this.opts.refreshTokens?.[form.get('refresh_token') ?? ''];
      if (form.get('grant_type') !== 'refresh_token' || owner === undefined) return reply(401, { error: 'invalid_grant' });
      user = `refresh:${owner}`;
      return reply(200, { access_token: this.token(owner, scopes, service), expires_in: 300 });
    }
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (this.opts.users?.[u!] !== p.join(':')) {
        user = u;
        return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
      }
      user = u;
    }
    return reply(200, { token: this.token(user, scopes, service), expires_in: 300, issued_at: new Date().toISOString() });
  }

  private token(user: string | undefined, scopes: string[], service: string | undefined): string {
    const access = scopes
      .map((s) => s.split(':'))
      .filter((p) => p[0] === 'repository' && p.length >= 3)
      .map((p) => {
        const name = p.slice(1, -1).join(':');
        const wanted = p[p.length - 1]!.split(',');
        const allowed = user !== undefined ? wanted : wanted.filter((a) => a === 'pull' && (this.opts.anonymousPull?.test(name) ?? false));
        return { type: 'repository', name, actions: allowed };
      });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [this.certDer] };
    const claims = { iss: this.opts.issuer, sub: user ?? '', aud: service ?? this.opts.service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const data = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(data), { key: createPrivateKey(this.key), dsaEncoding: 'ieee-p1363' });
    return `${data}.${b64url(sig)}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

export interface TokenServerOptions {
  issuer: string;
  service: string;
  users?: Record<string, string>;
  refreshTokens?: Record<string, string>;
  anonymousPull?: RegExp;
}

export interface TestRegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  /** user → password, for htpasswd and token auth. */
  users?: Record<string, string>;
  /** Token auth: identity (refresh) token → user. */
  refreshTokens?: Record<string, string>;
  /** Token auth: repositories anyone may pull. */
  anonymousPull?: RegExp;
}

export class TestRegistry {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
    readonly tokens: TokenServer | undefined,
    private readonly logs: string[],
  ) {}

  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get origin(): string {
    return `http://${this.host}`;
  }

  static async start(opts: TestRegistryOptions = {}): Promise<TestRegistry> {
    const dir = mkdtempSync(join(tmpdir(), 'cake-registry-'));
    let auth = '';
    let tokens: TokenServer | undefined;
    if (opts.auth === 'htpasswd') {
      const lines = Object.entries(opts.users ?? {}).map(([u, p]) => `${u}:${bcrypt(p)}`);
      writeFileSync(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      auth = `auth:\n  htpasswd:\n    realm: cake-test\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (opts.auth === 'token') {
      const service = 'cake-test-registry';
      const issuer = 'cake-test-issuer';
      tokens = await TokenServer.start({ issuer, service, ...(opts.users ? { users: opts.users } : {}), ...(opts.refreshTokens ? { refreshTokens: opts.refreshTokens } : {}), ...(opts.anonymousPull ? { anonymousPull: opts.anonymousPull } : {}) });
      writeFileSync(join(dir, 'token-ca.pem'), TokenServer.certPem());
      auth = `auth:\n  token:\n    realm: ${tokens.realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${join(dir, 'token-ca.pem')}\n`;
    }
    // The port is free when picked but may be taken before the registry binds it (tests run in
    // parallel): then the registry exits, or something else answers; try another port.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const config =
        'version: 0.1\n' +
        'log:\n  level: error\n  accesslog:\n    disabled: true\n' +
        `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n` +
        `http:\n  addr: 127.0.0.1:${port}\n  secret: cake-test-secret\n` +
        auth;
      writeFileSync(join(dir, 'config.yml'), config);
      const logs: string[] = [];
      const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => logs.push(String(d)));
      child.stderr?.on('data', (d: Buffer) => logs.push(String(d)));
      const reg = new TestRegistry(child, port, dir, tokens, logs);
      const deadline = Date.now() + 15_000;
      let answered = false;
      while (child.exitCode === null && Date.now() < deadline) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/v2/`);
          answered = res.headers.get('docker-distribution-api-version') === 'registry/2.0';
          if (answered) break;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      // the registry may have answered a moment before failing on a port someone else holds
      if (answered) await new Promise((r) => setTimeout(r, 100));
      if (answered && child.exitCode === null) return reg;
      if (child.exitCode === null) child.kill('SIGKILL');
      if (attempt >= 3) {
        await reg.stop();
        throw new Error(`docker-registry did not start: ${logs.join('')}`);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.pid !== undefined) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
    await this.tokens?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ProxiedRecord {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  status: number;
  fault?: ProxyFault['type'];
}

export type ProxyFault =
  | { type: 'status'; status: number; retryAfter?: number }
  /** Forward the response headers and `afterBytes` body bytes, then cut the connection. */
  | { type: 'drop'; afterBytes: number }
  /** Forward the response with the body byte at `at` (default: the middle) flipped. */
  | { type: 'corrupt'; at?: number }
  /** Answer with a redirect to `location(path)` instead of forwarding. */
  | { type: 'redirect'; location: (path: string) => string; status?: number };

/**
 * A reverse proxy on 127.0.0.1 in front of `upstream` (a registry origin) that forwards
 * everything, keeping the Host header (so the registry's Location headers point back here), and
 * applies queued faults to requests whose method and path match.
 */
export class FaultProxy {
  readonly requests: ProxiedRecord[] = [];
  private readonly faults: Array<{ match: RegExp; method: string; fault: ProxyFault }> = [];
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

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(upstream: string): Promise<FaultProxy> {
    const up = new URL(upstream);
    let self: FaultProxy | undefined;
    const server = http.createServer((req, res) => self?.forward(req, res, up));
    const port = await listen(server);
    self = new FaultProxy(server, port);
    return self;
  }

  /** The next `times` requests (`method`, default GET) whose path matches get `fault`. */
  fail(match: RegExp, fault: ProxyFault, times = 1, method = 'GET'): this {
    for (let i = 0; i < times; i++) this.faults.push({ match, method, fault });
    return this;
  }

  /** Requests whose path matches. */
  to(match: RegExp, method = 'GET'): ProxiedRecord[] {
    return this.requests.filter((r) => r.method === method && match.test(r.path));
  }

  reset(): void {
    this.requests.length = 0;
    this.faults.length = 0;
  }

  private forward(req: IncomingMessage, res: ServerResponse, up: URL): void {
    const path = req.url ?? '/';
    const record: ProxiedRecord = { method: req.method ?? 'GET', path, headers: req.headers, status: 0 };
    this.requests.push(record);
    const i = this.faults.findIndex((f) => f.method === record.method && f.match.test(path.split('?')[0]!));
    const fault = i >= 0 ? this.faults.splice(i, 1)[0]!.fault : undefined;
    if (fault) record.fault = fault.type;
    if (fault?.type === 'status') {
      record.status = fault.status;
      const headers: Record<string, string> = { 'content-length': '0' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
      res.writeHead(fault.status, headers).end();
      req.resume();
      return;
    }
    if (fault?.type === 'redirect') {
      record.status = fault.status ?? 307;
      res.writeHead(record.status, { location: fault.location(path), 'content-length': '0' }).end();
      req.resume();
      return;
    }
    const upstream = http.request({ host: up.hostname, port: up.port, method: req.method, path, headers: req.headers }, (r) => {
      record.status = r.statusCode ?? 502;
      if (fault?.type === 'drop') {
        res.writeHead(record.status, r.headers);
        res.flushHeaders();
        let sent = 0;
        r.on('data', (chunk: Buffer) => {
          if (sent >= fault.afterBytes) return;
          const part = chunk.subarray(0, fault.afterBytes - sent);
          sent += part.length;
          res.write(part, () => {
            if (sent >= fault.afterBytes) {
              r.destroy();
              res.socket?.destroy();
            }
          });
        });
        return;
      }
      if (fault?.type === 'corrupt') {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const body = Buffer.concat(chunks);
          const at = fault.at ?? Math.floor(body.length / 2);
          if (body.length > 0) body[at] = body[at]! ^ 0xff;
          res.writeHead(record.status, r.headers).end(body);
        });
        return;
      }
      res.writeHead(record.status, r.headers);
      r.pipe(res);
    });
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502, { 'content-length': '0' }).end()));
    req.pipe(upstream);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface RawImage {
  /** Blobs to upload (layers, configs, child manifests are not blobs: see `manifests`). */
  blobs: Buffer[];
  /** Manifests to put by digest before the tagged one (an index's children). */
  children?: Array<{ bytes: Buffer; mediaType: string }>;
  manifest: { bytes: Buffer; mediaType: string };
}

export const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function authHeader(reg: { host: string; tokens?: TokenServer | undefined }, repo: string, cred?: { user: string; password: string }): Promise<Record<string, string>> {
  if (!cred) return {};
  const basic = `Basic ${Buffer.from(`${cred.user}:${cred.password}`).toString('base64')}`;
  if (!reg.tokens) return { authorization: basic };
  const r = await fetch(`${reg.tokens.realm}?service=cake-test-registry&scope=repository:${repo}:pull,push`, { headers: { authorization: basic } });
  const { token } = (await r.json()) as { token: string };
  return { authorization: `Bearer ${token}` };
}

/**
 * Uploads blobs and manifests exactly as given (monolithic POST + PUT), bypassing cake: the
 * registry itself checks blob digests on upload, not what a manifest says about them.
 */
export async function uploadImage(reg: TestRegistry, repo: string, tag: string, image: RawImage, cred?: { user: string; password: string }): Promise<string> {
  const headers = await authHeader(reg, repo, cred);
  for (const blob of image.blobs) {
    const d = digestOf(blob);
    const head = await fetch(`${reg.origin}/v2/${repo}/blobs/${d}`, { method: 'HEAD', headers });
    if (head.status === 200) continue;
    const post = await fetch(`${reg.origin}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    if (post.status !== 202) throw new Error(`upload start: ${post.status} ${await post.text()}`);
    const loc = new URL(post.headers.get('location')!, reg.origin);
    loc.searchParams.set('digest', d);
    const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: blob });
    if (put.status !== 201) throw new Error(`upload ${d}: ${put.status} ${await put.text()}`);
  }
  for (const m of [...(image.children ?? []), { ...image.manifest, tag }]) {
    const ref = 'tag' in m ? m.tag : digestOf(m.bytes);
    const put = await fetch(`${reg.origin}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { ...headers, 'content-type': m.mediaType }, body: m.bytes });
    if (put.status !== 201) throw new Error(`manifest ${ref}: ${put.status} ${await put.text()}`);
  }
  return digestOf(image.manifest.bytes);
}
