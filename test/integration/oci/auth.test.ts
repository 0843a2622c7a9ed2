import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';
import { TestRegistry, REGISTRY_TOOLS, uploadImage } from '../../helpers/registry.js';
import { file, tar } from '../../helpers/tar-build.js';
import { image, layer, type BuiltImage } from './images.js';
import { missingCommands } from '../../helpers/tools.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe.skipIf(missingCommands(...REGISTRY_TOOLS))('registry authentication (htpasswd and token registries)', () => {
  let basic: TestRegistry;
  let token: TestRegistry;
  let img: BuiltImage;
  let work: string;
  let n = 0;
  const homes: Array<{ cleanup(): void }> = [];

  /** A fresh CAKE_HOME and a user HOME holding `files`; the returned env isolates cake from the real user's credentials. */
  function user(files: Record<string, unknown> = {}, extra: Record<string, string> = {}): { home: string; env: Record<string, string> } {
    const h = freshHome('cake-oci-auth-');
    homes.push(h);
    const userHome = join(work, `user${n++}`);
    mkdirSync(userHome, { recursive: true });
    for (const [rel, doc] of Object.entries(files)) {
      mkdirSync(join(userHome, rel, '..'), { recursive: true });
      writeFileSync(join(userHome, rel), JSON.stringify(doc));
    }
    return { home: h.home, env: { HOME: userHome, XDG_CONFIG_HOME: '', XDG_RUNTIME_DIR: '', DOCKER_CONFIG: '', REGISTRY_AUTH_FILE: '', ...extra } };
  }
  const marker = (root: string, name: string): string => readFileSync(join(root, 'v1/envs', name, 'rootfs/hello'), 'utf8');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-oci-auth-'));
    [basic, token] = await Promise.all([
      TestRegistry.start({ auth: 'htpasswd', users: { alice: 'secret' } }),
      TestRegistry.start({ auth: 'token', users: { bob: 'hunter2' }, refreshTokens: { 'rt-123': 'bob' }, anonymousPull: /^public\// }),
    ]);
    img = image([layer(tar(file('hello', 'world\n')), 'gzip')]);
    await uploadImage(basic, 'team/app', 'v1', img, { user: 'alice', password: 'secret' });
    await uploadImage(token, 'public/base', 'v1', img, { user: 'bob', password: 'hunter2' });
    await uploadImage(token, 'private/app', 'v1', img, { user: 'bob', password: 'hunter2' });
  });

  afterAll(async () => {
    await Promise.all([basic?.stop(), token?.stop()]);
    for (const h of homes) h.cleanup();
    if (work) execFileSync('rm', ['-rf', work]);
  });

  it('Basic: without credentials the error names the reference and says how to log in; nothing is installed', async () => {
    const u = user();
    const r = await cake(u.home, ['pull', `docker://${basic.host}/team/app:v1`], { env: u.env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`cake: fetching the manifest of docker://${basic.host}/team/app:v1: unauthorized (401) (UNAUTHORIZED: authentication required)\nhint: log in to ${basic.host}`);
    expect(existsSync(join(u.home, 'v1/envs/app'))).toBe(false);
  });

  it('Basic: credentials from ~/.docker/config.json; a wrong password is a 401', async () => {
    const ok = user({ '.docker/config.json': { auths: { [basic.host]: { auth: b64('alice:secret') } } } });
    const r = await cake(ok.home, ['pull', `docker://${basic.host}/team/app:v1`], { env: ok.env });
    expect(r.stderr).toContain('created app');
    expect(r.code, r.stderr).toBe(0);
    expect(marker(ok.home, 'app')).toBe('world\n');
    const bad = user({ '.docker/config.json': { auths: { [`http://${basic.host}/v1/`]: { auth: b64('alice:wrong') } } } });
    const w = await cake(bad.home, ['pull', `docker://${basic.host}/team/app:v1`], { env: bad.env });
    expect(w.code, w.stderr).toBe(1);
    expect(w.stderr).toContain('unauthorized (401)');
  });

  it('Basic: $REGISTRY_AUTH_FILE wins over the docker config', async () => {
    const u = user({ 'auth.json': { auths: { [`${basic.host}/team`]: { auth: b64('alice:secret') } } }, '.docker/config.json': { auths: { [basic.host]: { auth: b64('alice:wrong') } } } });
    const r = await cake(u.home, ['pull', `docker://${basic.host}/team/app:v1`], { env: { ...u.env, REGISTRY_AUTH_FILE: join(u.env.HOME!, 'auth.json') } });
    expect(r.code, r.stderr).toBe(0);
  });

  it('Basic: a credential helper named in credHelpers', async () => {
    const bin = join(work, 'helpers');
    mkdirSync(bin, { recursive: true });
    const log = join(work, 'helper.log');
    writeFileSync(join(bin, 'docker-credential-cake-test'), `#!/bin/sh\nread url\necho "$1 $url" >> ${log}\necho '{"ServerURL":"'$url'","Username":"alice","Secret":"secret"}'\n`);
    chmodSync(join(bin, 'docker-credential-cake-test'), 0o755);
    const u = user({ '.docker/config.json': { credHelpers: { [basic.host]: 'cake-test' } } });
    const r = await cake(u.home, ['pull', `docker://${basic.host}/team/app:v1`], { env: { ...u.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`get ${basic.host}\n`);
  });

  it('Bearer: anonymous pull of a public repository gets a pull token', async () => {
    const u = user();
    const r = await cake(u.home, ['pull', `docker://${token.host}/public/base:v1`], { env: u.env });
    expect(r.code, r.stderr).toBe(0);
    expect(marker(u.home, 'base')).toBe('world\n');
    expect(token.tokens!.requests.at(-1)).toMatchObject({ method: 'GET', user: undefined, service: 'cake-test-registry', scopes: ['repository:public/base:pull'], status: 200 });
  });

  it('Bearer: a private repository needs credentials (containers auth.json), and anonymous access is refused clearly', async () => {
    const anon = user();
    const r = await cake(anon.home, ['pull', `docker://${token.host}/private/app:v1`], { env: anon.env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`cake: fetching the manifest of docker://${token.host}/private/app:v1: unauthorized (401)`);
    const u = user({ '.config/containers/auth.json': { auths: { [token.host]: { auth: b64('bob:hunter2') } } } });
    token.tokens!.requests.length = 0;
    const ok = await cake(u.home, ['pull', `docker://${token.host}/private/app:v1`], { env: u.env });
    expect(ok.code, ok.stderr).toBe(0);
    // One token for the whole pull: manifest, config and layer share it.
    expect(token.tokens!.requests).toEqual([{ method: 'GET', user: 'bob', service: 'cake-test-registry', scopes: ['repository:private/app:pull'], status: 200 }]);
    const wrong = user({ '.config/containers/auth.json': { auths: { [token.host]: { auth: b64('bob:nope') } } } });
    const w = await cake(wrong.home, ['pull', `docker://${token.host}/private/app:v1`], { env: wrong.env });
    expect(w.code, w.stderr).toBe(1);
    expect(w.stderr).toContain(`refused the credentials from ${join(wrong.env.HOME!, '.config/containers/auth.json')}: 401`);
  });

  it('Bearer: an identity token is exchanged with grant_type=refresh_token', async () => {
    const u = user({ '.docker/config.json': { auths: { [token.host]: { auth: b64('bob:'), identitytoken: 'rt-123' } } } });
    token.tokens!.requests.length = 0;
    const r = await cake(u.home, ['pull', `docker://${token.host}/private/app:v1`], { env: u.env });
    expect(r.code, r.stderr).toBe(0);
    expect(token.tokens!.requests).toEqual([{ method: 'POST', user: 'refresh:bob', service: 'cake-test-registry', scopes: ['repository:private/app:pull'], status: 200 }]);
  });

  it.skipIf(missingCommands('podman', 'setpriv'))('podman login as a plain user: its runtime-dir auth.json is read, with and without XDG_RUNTIME_DIR (#11.16)', () => {
    // nobody, with a home and a TMPDIR of its own: without XDG_RUNTIME_DIR (and no /run/user/UID)
    // podman writes $TMPDIR/podman-run-UID/containers/auth.json
    const root = join(work, 'podman-user');
    for (const d of ['home', 'tmp', 'run']) mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
    chmodSync(work, 0o755);
    chmodSync(root, 0o755);
    for (const d of ['', 'home', 'tmp', 'run']) chownSync(join(root, d), 65534, 65534);
    const asNobody = (cmd: string[], env: Record<string, string>): { code: number | null; out: string } => {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${join(root, 'home')}`, `TMPDIR=${join(root, 'tmp')}`, 'NO_COLOR=1',
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...cmd], { encoding: 'utf8', cwd: root, timeout: 60_000 });
      return { code: r.status, out: r.stdout + r.stderr };
    };
    const ref = `docker://${basic.host}/team/app:v1`;
    const cases: Array<[string, Record<string, string>, string]> = [
      ['no XDG_RUNTIME_DIR', {}, join(root, 'tmp/podman-run-65534/containers/auth.json')],
      ['XDG_RUNTIME_DIR set', { XDG_RUNTIME_DIR: join(root, 'run') }, join(root, 'run/containers/auth.json')],
    ];
    for (const [what, env, authFile] of cases) {
      const cakeEnv = { ...env, CAKE_HOME: join(root, 'home', `cake-${what.replace(/ /g, '-')}`) };
      const before = asNobody([CAKE, 'pull', ref, '--name', 'app'], cakeEnv);
      expect([what, before.code, before.out]).toEqual([what, 1, expect.stringContaining('unauthorized (401)')]);
      const login = asNobody(['podman', 'login', '--tls-verify=false', '-u', 'alice', '-p', 'secret', basic.host], env);
      expect(login.code, login.out).toBe(0);
      expect(existsSync(authFile), `${what}: podman wrote ${authFile}`).toBe(true);
      const r = asNobody([CAKE, 'pull', ref, '--name', 'app'], cakeEnv);
      expect([what, r.code], r.out).toEqual([what, 0]);
      expect(readFileSync(join(cakeEnv.CAKE_HOME, 'v1/envs/app/rootfs/hello'), 'utf8')).toBe('world\n');
    }
  }, 120_000);
});
