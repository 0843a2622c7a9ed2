/**
 * Registry authentication as docker, containerd and skopeo do it: the challenge of a `/v2/` ping
 * (or of a later 401) says Basic or Bearer; Basic sends the user's credentials on every request;
 * Bearer trades them (or nothing, for anonymous pulls) for a token at the challenge's realm, per
 * set of scopes (`repository:NAME:pull[,push]`), cached until shortly before it expires.
 */
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { Credential, CredentialStore } from './credentials.js';

export interface Challenge {
  /** Lowercase: `basic`, `bearer`. */
  scheme: string;
  /** Lowercase names: realm, service, scope, error. */
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate value holding one or more challenges
 * (`Bearer realm="…",service="…",scope="a b", Basic realm="…"`). Quoted strings may hold commas
 * and escaped quotes. Unparsable pieces are skipped.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipWs();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const word = token();
    if (word === '') {
      i++;
      continue;
    }
    skipWs();
    if (header[i] === '=') {
      i++;
      skipWs();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      if (current) current.params[word.toLowerCase()] = value;
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

interface CachedToken {
  value: string;
  /** ms since the epoch. */
  expires: number;
}

/** containers/image: a token said to live under 60 s is taken to live 60 s. */
const MIN_TOKEN_LIFE_S = 60;
const REFRESH_MARGIN_MS = 10_000;

export interface RegistryAuthOptions {
  http: HttpClient;
  credentials: CredentialStore;
  logger: Logger;
  signal?: AbortSignal;
  now?: () => number;
}

/** Per-registry challenges and a token cache; one per cake command. */
export class RegistryAuth {
  private readonly challenges = new Map<string, Challenge | null>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private readonly now: () => number;

  constructor(private readonly opts: RegistryAuthOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether a challenge (or its absence: 200 on /v2/) is known for `registry`. */
  knows(registry: string): boolean {
    return this.challenges.has(registry);
  }

  /**
   * Records what `registry` asked for (a WWW-Authenticate value, or undefined for "no auth").
   * Some registries answer a later 401 without WWW-Authenticate: the ping's challenge is kept then.
   */
  setChallenge(registry: string, header: string | undefined): void {
    const all = header ? parseChallenges(header) : [];
    const chosen = all.find((c) => c.scheme === 'bearer' && c.params.realm) ?? all.find((c) => c.scheme === 'basic') ?? null;
    if (chosen || !this.challenges.get(registry)) this.challenges.set(registry, chosen);
  }

  /** The Authorization header for a request to `registry` within `scopes`, or undefined (anonymous, no auth). */
  async header(registry: string, repository: string, scopes: string[]): Promise<string | undefined> {
    const ch = this.challenges.get(registry);
    if (!ch) return undefined;
    const cred = await this.opts.credentials.lookup(registry, repository);
    if (ch.scheme === 'basic') {
      if (!cred || cred.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64')}`;
    }
    const key = this.tokenKey(registry, ch, scopes);
    let entry = this.tokens.get(key);
    if (entry) {
      const t = await entry.catch(() => undefined);
      if (!t || t.expires - REFRESH_MARGIN_MS <= this.now()) {
        this.tokens.delete(key);
        entry = undefined;
      }
    }
    if (!entry) {
      entry = this.fetchToken(registry, ch, scopes, cred);
      this.tokens.set(key, entry);
      entry.catch(() => this.tokens.delete(key));
    }
    return `Bearer ${(await entry).value}`;
  }

  /** Forgets tokens for `registry` (after a 401: expired, revoked, or too narrow). */
  invalidate(registry: string): void {
    for (const k of this.tokens.keys()) if (k.startsWith(`${registry}\u0000`)) this.tokens.delete(k);
  }

  private tokenKey(registry: string, ch: Challenge, scopes: string[]): string {
    return [registry, ch.params.realm ?? '', ch.params.service ?? '', ...[...new Set(scopes)].sort()].join('\u0000');
  }

  private async fetchToken(registry: string, ch: Challenge, scopes: string[], cred: Credential | undefined): Promise<CachedToken> {
    const realm = ch.params.realm!;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new CakeError('registry', `${registry} sent an invalid token realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CakeError('registry', `${registry} sent a token realm that is not http(s): ${realm}`);
    const service = ch.params.service;
    const allScopes = [...new Set(scopes)];
    const http = this.opts.http;
    let res;
    if (cred?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'cake' });
      if (service) form.set('service', service);
      if (allScopes.length > 0) form.set('scope', allScopes.join(' '));
      res = await http.request(url.href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        signal: this.opts.signal,
        maxBytes: 1 << 20,
        acceptStatuses: [400, 401, 403],
      });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of allScopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (cred?.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64')}`;
      res = await http.request(url.href, { headers, signal: this.opts.signal, maxBytes: 1 << 20, acceptStatuses: [400, 401, 403] });
    }
    if (res.status !== 200) {
      const who = cred ? `the credentials from ${cred.from}` : 'anonymous access';
      throw new CakeError('registry', `the token service of ${registry} (${url.host}) refused ${who}: ${res.status}`, {
        hint: cred ? 'check the user name and password (or token) stored for this registry' : `log in to ${registry} (docker login / podman login) or set REGISTRY_AUTH_FILE`,
      });
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      doc = JSON.parse(res.body.toString('utf8')) as typeof doc;
    } catch {
      throw new CakeError('registry', `the token service of ${registry} answered with something that is not JSON`);
    }
    const value = typeof doc.token === 'string' && doc.token !== '' ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
    if (value === '') throw new CakeError('registry', `the token service of ${registry} sent no token`);
    const life = Math.max(MIN_TOKEN_LIFE_S, typeof doc.expires_in === 'number' ? doc.expires_in : 0);
    const issued = typeof doc.issued_at === 'string' ? Date.parse(doc.issued_at) : NaN;
    const from = Number.isFinite(issued) && Math.abs(issued - this.now()) < 300_000 ? issued : this.now();
    this.opts.logger.debug(`token for ${registry} (${allScopes.join(' ') || 'no scope'}) from ${url.host}${cred ? ` with ${cred.from}` : ''}, valid ${life} s`);
    return { value, expires: from + life * 1000 };
  }
}
