/**
 * Registry credentials from the files docker, podman and skopeo use, read in their order:
 * `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` (without XDG_RUNTIME_DIR:
 * /run/containers/0 for root, /run/user/UID, /tmp/podman-run-UID, as podman falls back),
 * `$XDG_CONFIG_HOME/containers/auth.json` (default ~/.config), `$DOCKER_CONFIG/config.json` (default
 * ~/.docker/config.json), then the legacy `~/.dockercfg`. The first file with an answer for the
 * registry wins. In each file: `credHelpers[host]` names a helper, else `auths` keys match most
 * specific first (`host/ns/repo`, `host/ns`, `host`), else `credsStore` names a helper for every
 * host. Helpers speak docker's protocol: `docker-credential-NAME get`, the server URL on stdin,
 * `{"Username","Secret"}` on stdout (Username `<token>` means Secret is an identity token).
 * Environment variables come from the `env` given (never process.env).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CakeError, isErrno } from '../model/errors.js';
import { DOCKER_HUB, DOCKER_HUB_AUTH_KEY } from './reference.js';

export interface Credential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`): exchanged for a bearer token with grant_type=refresh_token. */
  identityToken?: string;
  /** Where it came from, for debug messages (never the secret). */
  from: string;
}

/** Runs a credential helper: resolves with its stdout, rejects with its exit status and stderr. */
export type HelperRunner = (program: string, stdin: string, env: Record<string, string | undefined>) => Promise<string>;

const runHelper: HelperRunner = (program, stdin, env) =>
  new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { env: env as NodeJS.ProcessEnv, timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve(stdout);
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(stdin);
  });

interface AuthFile {
  path: string;
  auths: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers: Record<string, string>;
  credsStore?: string;
}

/** A key of `auths` as a comparable `host[/path]`: scheme and (for URLs) the /v1/ path dropped, Hub aliases folded. */
export function normaliseAuthKey(key: string): string {
  let k = key.trim();
  const hadScheme = /^https?:\/\//i.test(k);
  k = k.replace(/^https?:\/\//i, '');
  if (hadScheme) k = k.split('/')[0]!;
  k = k.replace(/\/+$/, '');
  const slash = k.indexOf('/');
  const host = (slash < 0 ? k : k.slice(0, slash)).toLowerCase();
  const rest = slash < 0 ? '' : k.slice(slash);
  const folded = host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
  return folded + rest;
}

function decodeAuth(entry: AuthFile['auths'][string]): { username?: string; password?: string } {
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = text.indexOf(':');
    if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return {};
}

function readAuthFile(path: string, legacy = false): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw new CakeError('io', `cannot read registry credentials ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new CakeError('registry', `registry credentials ${path} are not valid JSON: ${(err as Error).message}`, { hint: 'fix or remove the file' });
  }
  if (doc === null || typeof doc !== 'object') return undefined;
  const obj = (v: unknown): Record<string, never> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, never>) : {});
  return {
    path,
    auths: legacy ? obj(doc) : obj(doc.auths),
    credHelpers: obj(doc.credHelpers),
    ...(typeof doc.credsStore === 'string' && doc.credsStore !== '' ? { credsStore: doc.credsStore } : {}),
  };
}

/**
 * The credential files to consult, in order, for `env` and the user `uid`. Without
 * XDG_RUNTIME_DIR, podman's runtime dir is /run/containers/0 for root, else /run/user/UID or,
 * when that is missing, $TMPDIR/podman-run-UID (TMPDIR defaults to /tmp): all are consulted.
 */
export function credentialFiles(env: Record<string, string | undefined>, uid: number | undefined = process.getuid?.()): { path: string; legacy?: boolean }[] {
  const home = env.HOME ?? '';
  const files: { path: string; legacy?: boolean }[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push({ path: env.REGISTRY_AUTH_FILE });
  if (env.XDG_RUNTIME_DIR) files.push({ path: join(env.XDG_RUNTIME_DIR, 'containers/auth.json') });
  else if (uid === 0) files.push({ path: '/run/containers/0/auth.json' });
  else if (uid !== undefined) {
    files.push({ path: `/run/user/${uid}/containers/auth.json` });
    files.push({ path: join(env.TMPDIR || '/tmp', `podman-run-${uid}`, 'containers/auth.json') });
  }
  const configHome = env.XDG_CONFIG_HOME || (home ? join(home, '.config') : '');
  if (configHome) files.push({ path: join(configHome, 'containers/auth.json') });
  const dockerDir = env.DOCKER_CONFIG || (home ? join(home, '.docker') : '');
  if (dockerDir) files.push({ path: join(dockerDir, 'config.json') });
  if (home) files.push({ path: join(home, '.dockercfg'), legacy: true });
  return files;
}

/** Finds credentials for one registry and repository; memoised per (registry, repository). */
export class CredentialStore {
  private readonly cache = new Map<string, Promise<Credential | undefined>>();

  constructor(
    private readonly env: Record<string, string | undefined>,
    private readonly run: HelperRunner = runHelper,
  ) {}

  lookup(registry: string, repository: string): Promise<Credential | undefined> {
    const key = `${registry}/${repository}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.find(registry, repository);
      this.cache.set(key, p);
    }
    return p;
  }

  private async find(registry: string, repository: string): Promise<Credential | undefined> {
    const host = normaliseAuthKey(registry);
    const wanted: string[] = [];
    const parts = repository.split('/');
    for (let n = parts.length; n >= 1; n--) wanted.push(`${host}/${parts.slice(0, n).join('/')}`);
    wanted.push(host);
    for (const { path, legacy } of credentialFiles(this.env)) {
      const file = readAuthFile(path, legacy);
      if (!file) continue;
      const helper = Object.entries(file.credHelpers).find(([k]) => normaliseAuthKey(k) === host)?.[1];
      if (helper) {
        const c = await this.fromHelper(helper, registry);
        if (c) return c;
        continue;
      }
      const entries = new Map(Object.entries(file.auths).map(([k, v]) => [normaliseAuthKey(k), v] as const));
      for (const w of wanted) {
        const entry = entries.get(w);
        if (!entry) continue;
        const { username, password } = decodeAuth(entry);
        if (entry.identitytoken) return { identityToken: entry.identitytoken, ...(username ? { username } : {}), from: path };
        if (username !== undefined) return { username, password: password ?? '', from: path };
        if (file.credsStore) return this.fromHelper(file.credsStore, registry);
      }
      if (file.credsStore && !entries.has(host)) {
        const c = await this.fromHelper(file.credsStore, registry);
        if (c) return c;
      }
    }
    return undefined;
  }

  /** Asks `docker-credential-<name>`; "not found" (exit 1 with that message) is no credential. */
  private async fromHelper(name: string, registry: string): Promise<Credential | undefined> {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new CakeError('registry', `invalid credential helper name ${JSON.stringify(name)}`);
    const program = `docker-credential-${name}`;
    const serverUrl = registry === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
    let out: string;
    try {
      out = await this.run(program, serverUrl, this.env);
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string; message?: string };
      const text = `${e.stdout ?? ''} ${e.stderr ?? ''}`;
      if (/not found|no credentials/i.test(text)) return undefined;
      if (e.code === 'ENOENT') {
        throw new CakeError('missing-tool', `credential helper ${program} (named in the registry credentials) was not found`, {
          hint: `install it or remove "${name}" from your docker/containers auth configuration`,
          cause: err,
        });
      }
      throw new CakeError('registry', `credential helper ${program} failed: ${text.trim() || e.message}`, { cause: err });
    }
    let doc: { Username?: unknown; Secret?: unknown };
    try {
      doc = JSON.parse(out) as typeof doc;
    } catch {
      throw new CakeError('registry', `credential helper ${program} printed something that is not JSON`);
    }
    if (typeof doc.Secret !== 'string' || doc.Secret === '') return undefined;
    const from = `credential helper ${program}`;
    if (doc.Username === '<token>') return { identityToken: doc.Secret, from };
    return { username: typeof doc.Username === 'string' ? doc.Username : '', password: doc.Secret, from };
  }
}
