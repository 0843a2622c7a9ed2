import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseChallenges } from '../../../src/oci/auth.js';
import { CredentialStore, credentialFiles, normaliseAuthKey } from '../../../src/oci/credentials.js';

describe('WWW-Authenticate', () => {
  it('parses one or several challenges with quoted values', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
    expect(parseChallenges('Basic realm="a, b", Bearer realm="http://x/t",service=reg , error="insufficient_scope",scope="repository:a:pull repository:b:pull,push"')).toEqual([
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'http://x/t', service: 'reg', error: 'insufficient_scope', scope: 'repository:a:pull repository:b:pull,push' } },
    ]);
    expect(parseChallenges('Basic realm="say \\"hi\\""')).toEqual([{ scheme: 'basic', params: { realm: 'say "hi"' } }]);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('registry credentials', () => {
  const root = mkdtempSync(join(tmpdir(), 'cake-creds-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  let n = 0;
  const home = (files: Record<string, unknown>): string => {
    const h = join(root, `h${n++}`);
    for (const [rel, doc] of Object.entries(files)) {
      mkdirSync(join(h, rel, '..'), { recursive: true });
      writeFileSync(join(h, rel), typeof doc === 'string' ? doc : JSON.stringify(doc));
    }
    return h;
  };

  it('normalises auth keys', () => {
    expect(normaliseAuthKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normaliseAuthKey('registry-1.docker.io')).toBe('docker.io');
    expect(normaliseAuthKey('http://Reg.Example:5000/v2/')).toBe('reg.example:5000');
    expect(normaliseAuthKey('quay.io/org/repo')).toBe('quay.io/org/repo');
  });

  it('lists the files in the order podman and skopeo read them', () => {
    expect(credentialFiles({ HOME: '/h', REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/u', DOCKER_CONFIG: '/d' }).map((f) => f.path)).toEqual([
      '/a.json', '/run/u/containers/auth.json', '/h/.config/containers/auth.json', '/d/config.json', '/h/.dockercfg',
    ]);
  });

  it("falls back to podman's runtime dirs without XDG_RUNTIME_DIR (issue 11 item 16)", () => {
    expect(credentialFiles({ HOME: '/h' }, 1000).map((f) => f.path).slice(0, 2)).toEqual([
      '/run/user/1000/containers/auth.json', '/tmp/podman-run-1000/containers/auth.json',
    ]);
    expect(credentialFiles({ HOME: '/h', TMPDIR: '/var/tmp' }, 1000).map((f) => f.path)[1]).toBe('/var/tmp/podman-run-1000/containers/auth.json');
    expect(credentialFiles({ HOME: '/root' }, 0).map((f) => f.path)[0]).toBe('/run/containers/0/auth.json');
  });

  it('reads ~/.docker/config.json, including Docker Hub\'s key', async () => {
    const h = home({ '.docker/config.json': { auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') }, 'reg.example:5000': { auth: b64('u:p:with:colons') } } } });
    const store = new CredentialStore({ HOME: h });
    expect(await store.lookup('docker.io', 'library/alpine')).toMatchObject({ username: 'hub', password: 'pw' });
    expect(await store.lookup('reg.example:5000', 'x')).toMatchObject({ username: 'u', password: 'p:with:colons' });
    expect(await store.lookup('other.example', 'x')).toBeUndefined();
  });

  it('prefers $REGISTRY_AUTH_FILE, then containers auth.json with the most specific key', async () => {
    const h = home({
      'auth.json': { auths: { 'reg.example': { auth: b64('first:1') } } },
      '.config/containers/auth.json': { auths: { 'reg.example': { auth: b64('host:2') }, 'reg.example/team': { auth: b64('team:3') }, 'reg.example/team/app': { auth: b64('app:4') } } },
      '.docker/config.json': { auths: { 'reg.example': { auth: b64('docker:5') } } },
    });
    expect(await new CredentialStore({ HOME: h, REGISTRY_AUTH_FILE: join(h, 'auth.json') }).lookup('reg.example', 'team/app')).toMatchObject({ username: 'first' });
    const s = new CredentialStore({ HOME: h });
    expect(await s.lookup('reg.example', 'team/app')).toMatchObject({ username: 'app' });
    expect(await s.lookup('reg.example', 'team/other')).toMatchObject({ username: 'team' });
    expect(await s.lookup('reg.example', 'solo')).toMatchObject({ username: 'host' });
  });

  it('uses identity tokens', async () => {
    const h = home({ '.docker/config.json': { auths: { 'reg.example': { auth: b64('u:'), identitytoken: 'refresh-me' } } } });
    expect(await new CredentialStore({ HOME: h }).lookup('reg.example', 'x')).toMatchObject({ identityToken: 'refresh-me' });
  });

  it('runs credential helpers (credHelpers, then credsStore) with the server URL on stdin', async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin, { recursive: true });
    const helper = (name: string, body: string): void => {
      writeFileSync(join(bin, `docker-credential-${name}`), `#!/bin/sh\n[ "$1" = get ] || exit 3\nread url\n${body}\n`);
      chmodSync(join(bin, `docker-credential-${name}`), 0o755);
    };
    helper('one', 'case "$url" in reg.example) echo "{\\"ServerURL\\":\\"$url\\",\\"Username\\":\\"helper\\",\\"Secret\\":\\"s3\\"}";; *) echo "credentials not found in native keychain"; exit 1;; esac');
    helper('store', 'case "$url" in https://index.docker.io/v1/) echo "{\\"Username\\":\\"<token>\\",\\"Secret\\":\\"idtok\\"}";; *) echo "credentials not found in native keychain"; exit 1;; esac');
    const h = home({ '.docker/config.json': { credHelpers: { 'reg.example': 'one', 'gone.example': 'missing' }, credsStore: 'store' } });
    const s = new CredentialStore({ HOME: h, PATH: `${bin}:/usr/bin:/bin` });
    expect(await s.lookup('reg.example', 'x')).toEqual({ username: 'helper', password: 's3', from: 'credential helper docker-credential-one' });
    expect(await s.lookup('docker.io', 'library/alpine')).toMatchObject({ identityToken: 'idtok' });
    expect(await s.lookup('nothing.example', 'x')).toBeUndefined();
    await expect(s.lookup('gone.example', 'x')).rejects.toThrow(/docker-credential-missing .*was not found/);
  });

  it('names a credential file that is not JSON', async () => {
    const h = home({ '.docker/config.json': '{oops' });
    await expect(new CredentialStore({ HOME: h }).lookup('x.io', 'a')).rejects.toThrow(/config.json are not valid JSON/);
  });
});

describe('bearer tokens', () => {
  it('caches a token per scope set until shortly before it expires; Basic challenges send the credentials', async () => {
    const { TestHttpServer } = await import('../../helpers/http-server.js');
    const { HttpClient } = await import('../../../src/net/http-client.js');
    const { RegistryAuth } = await import('../../../src/oci/auth.js');
    const { silentLogger } = await import('../../../src/model/logger.js');
    const server = await TestHttpServer.start();
    let issued = 0;
    server.handle('/token', (_req, res) => {
      issued++;
      const body = JSON.stringify({ token: `t${issued}`, expires_in: 30 });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body);
    });
    const http = new HttpClient({ logger: silentLogger });
    let now = 1_000_000;
    const creds = { lookup: async () => ({ username: 'u', password: 'p', from: 'test' }) };
    const auth = new RegistryAuth({ http, credentials: creds as never, logger: silentLogger, now: () => now });
    try {
      auth.setChallenge('reg', `Bearer realm="${server.url('/token')}",service="svc"`);
      expect(await auth.header('reg', 'a', ['repository:a:pull'])).toBe('Bearer t1');
      expect(await auth.header('reg', 'a', ['repository:a:pull'])).toBe('Bearer t1');
      expect(await auth.header('reg', 'a', ['repository:a:pull,push'])).toBe('Bearer t2');
      const q = new URL(server.requestsTo('/token')[0]!.path, 'http://x').searchParams;
      expect([q.get('service'), q.getAll('scope')]).toEqual(['svc', ['repository:a:pull']]);
      expect(server.requestsTo('/token')[0]!.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
      now += 51_000; // under 60 s counts as 60 s; refreshed 10 s before the end
      expect(await auth.header('reg', 'a', ['repository:a:pull'])).toBe('Bearer t3');
      auth.invalidate('reg');
      expect(await auth.header('reg', 'a', ['repository:a:pull'])).toBe('Bearer t4');
      // A later 401 without a challenge keeps the one known; Basic sends the credentials.
      auth.setChallenge('reg', undefined);
      expect(await auth.header('reg', 'a', ['repository:a:pull'])).toBe('Bearer t4');
      auth.setChallenge('basic-reg', 'Basic realm="r"');
      expect(await auth.header('basic-reg', 'a', [])).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
      auth.setChallenge('open-reg', undefined);
      expect(await auth.header('open-reg', 'a', [])).toBeUndefined();
    } finally {
      await http.close();
      await server.close();
    }
  });
});
