/**
 * The distribution protocol (OCI distribution-spec, Docker Registry HTTP API v2) as real clients
 * speak it: a `/v2/` ping that chooses the scheme and learns the auth challenge, manifests with
 * the full Accept list, verified blobs (resumed with Range, retried on 429/5xx and dropped
 * connections by the HttpClient, redirects followed without forwarding Authorization to another
 * host), uploads (monolithic, chunked, cross-repository mount) and manifest pushes. Registry
 * errors become CakeErrors naming the image reference.
 */
import { createHash } from 'node:crypto';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient, HttpResponse } from '../net/http-client.js';
import type { RegistryAuth } from './auth.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, type Descriptor } from './manifest.js';
import { apiHost, isLocalRegistry } from './reference.js';

export interface RegistryClientOptions {
  http: HttpClient;
  auth: RegistryAuth;
  logger: Logger;
  signal?: AbortSignal;
  /** Plain HTTP allowed for registries outside 127.0.0.0/8 and localhost (after HTTPS fails). */
  insecure?: boolean;
}

/** A repository on a registry, with the text to name it by in messages (`docker://…`). */
export interface Repo {
  registry: string;
  repository: string;
  /** For messages: the reference as the user knows it. */
  what: string;
}

export interface FetchedManifest {
  bytes: Buffer;
  /** The Content-Type it was served with. */
  contentType: string | undefined;
  /** `sha256:<hex>` of `bytes`, verified against the request. */
  digest: string;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  maxBytes?: number;
  /** Statuses returned to the caller instead of becoming errors. */
  accept?: number[];
  /** Push needs `pull,push`; a mount also needs `pull` on the source repository. */
  scopes?: string[];
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function registryErrorDetail(res: HttpResponse): string {
  try {
    const doc = JSON.parse(res.body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const e = doc.errors?.[0];
    if (e?.code) return `${e.code}${e.message ? `: ${e.message}` : ''}`;
  } catch {
    // not a registry error document
  }
  return '';
}

export class RegistryClient {
  private readonly bases = new Map<string, Promise<string>>();

  constructor(private readonly opts: RegistryClientOptions) {}

  /** `http(s)://host[:port]` of the registry's API, after one ping (memoised). */
  base(registry: string): Promise<string> {
    let p = this.bases.get(registry);
    if (!p) {
      p = this.ping(registry);
      this.bases.set(registry, p);
      p.catch(() => this.bases.delete(registry));
    }
    return p;
  }

  private async ping(registry: string): Promise<string> {
    const host = apiHost(registry);
    const schemes = isLocalRegistry(registry) ? ['http'] : this.opts.insecure ? ['https', 'http'] : ['https'];
    let last: unknown;
    for (const scheme of schemes) {
      const base = `${scheme}://${host}`;
      try {
        const res = await this.opts.http.request(`${base}/v2/`, { signal: this.opts.signal, maxBytes: 1 << 20, acceptStatuses: [401, 403, 404] });
        if (res.status === 404) {
          throw new CakeError('registry', `${registry} does not speak the registry API (404 on ${base}/v2/)`, { hint: 'check the registry host and port' });
        }
        this.opts.auth.setChallenge(registry, res.status === 401 ? res.headers['www-authenticate'] : undefined);
        this.opts.logger.debug(`${registry}: ${base}/v2/ answered ${res.status}${res.headers['www-authenticate'] ? ` (${res.headers['www-authenticate']})` : ''}`);
        return base;
      } catch (err) {
        last = err;
        if (err instanceof CakeError && err.code === 'network' && schemes.length === 1 && scheme === 'https') {
          throw new CakeError('network', err.message, { cause: err, hint: `${err.hint ?? 'check the network'}; if ${registry} serves plain HTTP, pass --insecure` });
        }
        if (!(err instanceof CakeError) || err.code !== 'network' || scheme === 'http') throw err;
        this.opts.logger.debug(`${registry}: ${scheme} failed (${err.message}); trying plain HTTP (--insecure)`);
      }
    }
    throw last;
  }

  /** Sends one registry request with auth; a 401 refreshes the token (and widens its scope when asked) once. */
  private async send(repo: Repo, path: string, o: SendOptions = {}): Promise<HttpResponse> {
    const base = await this.base(repo.registry);
    const url = path.startsWith('http://') || path.startsWith('https://') ? path : `${base}${path}`;
    let scopes = o.scopes ?? [`repository:${repo.repository}:pull`];
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...o.headers };
      // Upload locations may point elsewhere: credentials go only to the registry's own origin.
      if (new URL(url).origin === new URL(base).origin) {
        const auth = await this.opts.auth.header(repo.registry, repo.repository, scopes);
        if (auth) headers.authorization = auth;
      }
      const res = await this.opts.http.request(url, {
        method: o.method ?? 'GET',
        headers,
        ...(o.body !== undefined ? { body: o.body } : {}),
        signal: this.opts.signal,
        maxBytes: o.maxBytes ?? 1 << 20,
        acceptStatuses: [400, 401, 403, 404, 405, 416, ...(o.accept ?? [])],
      });
      if (res.status === 401 && attempt === 0) {
        const challenge = res.headers['www-authenticate'];
        this.opts.auth.setChallenge(repo.registry, challenge);
        const wanted = /scope="([^"]+)"/.exec(challenge ?? '')?.[1];
        if (wanted && /insufficient_scope/.test(challenge ?? '')) scopes = [...new Set([...scopes, ...wanted.split(' ')])];
        this.opts.auth.invalidate(repo.registry);
        continue;
      }
      return res;
    }
  }

  /** A CakeError for a status the caller did not expect, naming the reference. */
  fail(repo: Repo, res: HttpResponse, doing: string): CakeError {
    const detail = registryErrorDetail(res);
    const tail = detail ? ` (${detail})` : '';
    if (res.status === 401) {
      return new CakeError('registry', `${doing} ${repo.what}: unauthorized (401)${tail}`, {
        hint: `log in to ${repo.registry} (docker login / podman login write the credentials cake reads), or set REGISTRY_AUTH_FILE; check the repository name`,
      });
    }
    if (res.status === 403) {
      return new CakeError('registry', `${doing} ${repo.what}: access denied (403)${tail}`, {
        hint: `your credentials for ${repo.registry} do not grant this; check the repository name and your permissions`,
      });
    }
    if (res.status === 404) {
      return new CakeError('not-found', `${doing} ${repo.what}: not found (404)${tail}`, {
        hint: `check the repository and tag; \`skopeo list-tags docker://${repo.registry}/${repo.repository}\` lists the tags`,
      });
    }
    return new CakeError('registry', `${doing} ${repo.what}: ${repo.registry} answered ${res.status}${tail}`);
  }

  /**
   * Fetches a manifest by tag or digest with every supported type in Accept. Verified: by digest,
   * the bytes must hash to it; by tag, to the Docker-Content-Digest the registry sent (if any).
   */
  async getManifest(repo: Repo, reference: string): Promise<FetchedManifest> {
    const res = await this.send(repo, `/v2/${repo.repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT }, maxBytes: MAX_MANIFEST_BYTES });
    if (res.status !== 200) throw this.fail(repo, res, 'fetching the manifest of');
    const digest = sha256(res.body);
    const claimed = reference.startsWith('sha256:') ? reference : res.headers['docker-content-digest'];
    if (claimed !== undefined && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new CakeError('digest-mismatch', `the manifest of ${repo.what} does not match its digest: expected ${claimed}, got ${digest}`, {
        hint: 'the registry or something between it and you altered the data; nothing was installed',
      });
    }
    return { bytes: res.body, contentType: res.headers['content-type'], digest };
  }

  /** A small blob (an image config) read into memory, verified against its descriptor. */
  async getBlob(repo: Repo, desc: Descriptor, maxBytes: number): Promise<Buffer> {
    if (desc.size > maxBytes) throw new CakeError('registry', `${desc.digest} of ${repo.what} is ${desc.size} bytes; more than the ${maxBytes} allowed for it`);
    const res = await this.send(repo, `/v2/${repo.repository}/blobs/${desc.digest}`, { maxBytes });
    if (res.status !== 200) throw this.fail(repo, res, `fetching blob ${desc.digest} of`);
    const digest = sha256(res.body);
    if (digest !== desc.digest || res.body.length !== desc.size) {
      throw new CakeError('digest-mismatch', `blob ${desc.digest} of ${repo.what} does not match: got ${digest} (${res.body.length} bytes, expected ${desc.size})`, {
        hint: 'the registry or something between it and you altered the data; nothing was installed',
      });
    }
    return res.body;
  }

  /**
   * Downloads a blob into `partPath` (resuming what is there), verified by size and sha256; the
   * caller adopts the file into the store. Redirects to other hosts get no Authorization header.
   * A 401 (an expired token) is answered with a fresh token, once.
   */
  async downloadBlob(repo: Repo, desc: Descriptor, partPath: string, opts: { progressLabel?: string; signal?: AbortSignal } = {}): Promise<void> {
    const signal = opts.signal ?? this.opts.signal;
    const base = await this.base(repo.registry);
    const url = `${base}/v2/${repo.repository}/blobs/${desc.digest}`;
    for (let attempt = 0; ; attempt++) {
      const auth = await this.opts.auth.header(repo.registry, repo.repository, [`repository:${repo.repository}:pull`]);
      try {
        await this.opts.http.download(url, partPath, {
          headers: auth ? { authorization: auth } : {},
          expectedSha256: desc.digest,
          expectedSize: desc.size,
          ...(signal ? { signal } : {}),
          ...(opts.progressLabel ? { progressLabel: opts.progressLabel } : {}),
        });
        return;
      } catch (err) {
        const status = err instanceof CakeError && err.code === 'http' ? /: (\d{3})\b/.exec(err.message)?.[1] : undefined;
        if (status === '401' && attempt === 0) {
          this.opts.auth.invalidate(repo.registry);
          continue;
        }
        if (err instanceof CakeError && err.code === 'digest-mismatch') {
          throw new CakeError('digest-mismatch', `blob ${desc.digest} of ${repo.what} does not match its digest: ${err.message}`, { hint: 'the registry or something between it and you altered the data; nothing was installed', cause: err });
        }
        if (status === '404') throw new CakeError('not-found', `blob ${desc.digest} of ${repo.what} is missing on the registry (404)`, { cause: err, hint: 'the image is incomplete on the registry; push it again' });
        if (status === '401' || status === '403') throw new CakeError('registry', `fetching blob ${desc.digest} of ${repo.what}: ${status === '401' ? 'unauthorized (401)' : 'access denied (403)'}`, { cause: err, hint: `check your credentials for ${repo.registry}` });
        throw err;
      }
    }
  }

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(repo: Repo, digest: string, scopes?: string[]): Promise<boolean> {
    const res = await this.send(repo, `/v2/${repo.repository}/blobs/${digest}`, { method: 'HEAD', ...(scopes ? { scopes } : {}) });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw this.fail(repo, res, `checking blob ${digest} of`);
  }

  /**
   * Starts an upload (POST …/blobs/uploads/). With `mount`, asks the registry to link the blob
   * from another repository instead: `{ mounted: true }` when it did (201), else an upload session
   * (202), as the spec says a registry that cannot mount must answer.
   */
  async startUpload(repo: Repo, mount?: { digest: string; from: string }): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const scopes = [`repository:${repo.repository}:pull,push`, ...(mount ? [`repository:${mount.from}:pull`] : [])];
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const res = await this.send(repo, `/v2/${repo.repository}/blobs/uploads/${query}`, { method: 'POST', headers: { 'content-length': '0' }, body: '', scopes, accept: [201, 202] });
    if (res.status === 201 && mount) return { mounted: true };
    if (res.status !== 202) throw this.fail(repo, res, 'starting an upload to');
    return { mounted: false, location: await this.location(repo, res) };
  }

  private async location(repo: Repo, res: HttpResponse): Promise<string> {
    const loc = res.headers.location;
    if (!loc) throw new CakeError('registry', `${repo.registry} started an upload without a Location`);
    return new URL(loc, `${await this.base(repo.registry)}/`).href;
  }

  /** PATCH one chunk at `start` (Content-Range: start-end); returns the next location. */
  async uploadChunk(repo: Repo, location: string, start: number, chunk: Buffer): Promise<string> {
    const res = await this.send(repo, location, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + chunk.length - 1}`, 'content-length': String(chunk.length) },
      body: chunk,
      scopes: [`repository:${repo.repository}:pull,push`],
      accept: [202],
    });
    if (res.status !== 202) throw this.fail(repo, res, `uploading a chunk at ${start} to`);
    return this.location(repo, res);
  }

  /** Completes an upload: PUT location?digest=D, with the remaining bytes (all of them: monolithic) or none. */
  async finishUpload(repo: Repo, location: string, digest: string, body: Buffer = Buffer.alloc(0)): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const res = await this.send(repo, url.href, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
      body,
      scopes: [`repository:${repo.repository}:pull,push`],
      accept: [201, 204],
    });
    if (res.status !== 201 && res.status !== 204) throw this.fail(repo, res, `completing the upload of ${digest} to`);
  }

  /** PUT a manifest under `reference` (a tag or its digest); returns the digest the registry confirmed. */
  async putManifest(repo: Repo, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.send(repo, `/v2/${repo.repository}/manifests/${reference}`, {
      method: 'PUT',
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      scopes: [`repository:${repo.repository}:pull,push`],
      accept: [201, 202, 204],
    });
    if (res.status >= 300) throw this.fail(repo, res, 'pushing the manifest of');
    const digest = sha256(bytes);
    const claimed = res.headers['docker-content-digest'];
    if (claimed !== undefined && claimed !== digest) throw new CakeError('registry', `${repo.registry} stored the manifest of ${repo.what} as ${claimed}, not ${digest}`);
    return digest;
  }
}
