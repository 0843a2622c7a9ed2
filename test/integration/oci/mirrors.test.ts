import { existsSync, readFileSync, readdirSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { FaultProxy, TestRegistry, digestOf, haveRegistryTools, uploadImage } from '../../helpers/registry.js';
import { file, tar } from '../../helpers/tar-build.js';
import { image, layer } from './images.js';

/** A port nothing listens on (taken and released): the unreachable upstream registry. */
function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const resolved = (home: string, name: string): Record<string, unknown> =>
  (JSON.parse(readFileSync(join(home, 'v1/envs', name, 'env.json'), 'utf8')) as { resolved: Record<string, unknown> }).resolved;

// issue 11 item 20: registry mirrors (docker's registry-mirrors, podman's registries.conf mirrors),
// two real registries on 127.0.0.1: one mirror holding the image, one empty; the upstream unreachable.
describe.skipIf(!haveRegistryTools())('registry mirrors', () => {
  let mirror: TestRegistry;
  let empty: TestRegistry;
  let proxy: FaultProxy;
  let upstream: string;
  let digest: string;
  const h = freshHome('cake-mirrors-');
  const img = image([layer(tar(file('hello', 'from the mirror\n')), 'gzip')], { env: ['PATH=/bin'] });

  beforeAll(async () => {
    [mirror, empty] = await Promise.all([TestRegistry.start(), TestRegistry.start()]);
    proxy = await FaultProxy.start(mirror.origin);
    upstream = `127.0.0.1:${await deadPort()}`;
    digest = await uploadImage(mirror, 'ns/team/app', '1', img);
    await uploadImage(mirror, 'cake-test/app', '1', img); // Docker Hub's cake-test/app, unprefixed
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await Promise.all([mirror?.stop(), empty?.stop()]);
    h.cleanup();
  });

  it('without a mirror the unreachable registry fails the pull', async () => {
    const r = await cake(h.home, ['pull', `docker://${upstream}/team/app:1`, '--name', 'direct']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cake: .*127\.0\.0\.1/m);
    expect(existsSync(join(h.home, 'v1/envs/direct'))).toBe(false);
  });

  it('per-registry mirrors from the config are tried in order (an empty one, then one under a prefix), the upstream never asked', async () => {
    const set = await cake(h.home, ['config', 'set', 'registry-mirrors', `${upstream}=${empty.host}, ${upstream}=${mirror.host}/ns`]);
    expect(set.code, set.stderr).toBe(0);
    const got = await cake(h.home, ['config', 'get', 'registry-mirrors']);
    expect(got.stdout).toBe(`${upstream}=${empty.host},${upstream}=${mirror.host}/ns`);
    const r = await cake(h.home, ['pull', `docker://${upstream}/team/app:1`, '--name', 'app']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`mirror ${empty.host} failed`);
    expect(r.stderr).toContain(`pulling through mirror ${mirror.host}/ns`);
    expect(readFileSync(join(h.home, 'v1/envs/app/rootfs/hello'), 'utf8')).toBe('from the mirror\n');
    const rec = resolved(h.home, 'app');
    expect(rec).toMatchObject({ registry: upstream, repository: 'team/app', tag: '1', mirror: `${mirror.host}/ns`, manifestDigest: digest });
    // pinned by digest through the mirror
    const pinned = await cake(h.home, ['pull', `docker://${upstream}/team/app@${digest}`, '--name', 'pinned']);
    expect(pinned.code, pinned.stderr).toBe(0);
    await cake(h.home, ['config', 'unset', 'registry-mirrors']);
  });

  it('a mirror whose manifest does not match the pinned digest is passed over for the next; the env is what the digest names', async () => {
    proxy.fail(/\/manifests\/sha256:/, { type: 'corrupt' });
    const env = { CAKE_REGISTRY_MIRRORS: `${upstream}=${proxy.host}/ns,${upstream}=${mirror.host}/ns` };
    const r = await cake(h.home, ['pull', `docker://${upstream}/team/app@${digest}`, '--name', 'verified'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`mirror ${proxy.host}/ns failed \\(the manifest of .* does not match its digest`));
    expect(resolved(h.home, 'verified')).toMatchObject({ mirror: `${mirror.host}/ns`, manifestDigest: digest });
    // the only mirror corrupt and the upstream unreachable: nothing is installed
    proxy.fail(/\/manifests\/sha256:/, { type: 'corrupt' });
    const bad = await cake(h.home, ['pull', `docker://${upstream}/team/app@${digest}`, '--name', 'corrupt'], { env: { CAKE_REGISTRY_MIRRORS: `${upstream}=${proxy.host}/ns` } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('does not match its digest');
    expect(readdirSync(join(h.home, 'v1/envs'))).not.toContain('corrupt');
  });

  it("a plain MIRROR is Docker Hub's (docker's registry-mirrors), from CAKE_REGISTRY_MIRRORS; Docker Hub itself unreachable", async () => {
    const env = { CAKE_REGISTRY_MIRRORS: `http://${mirror.host}`, HTTPS_PROXY: 'http://127.0.0.1:9', https_proxy: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' };
    const r = await cake(h.home, ['pull', 'docker://cake-test/app:1', '--name', 'hub'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(resolved(h.home, 'hub')).toMatchObject({ registry: 'docker.io', repository: 'cake-test/app', mirror: mirror.host });
  });

  it('a malformed mirror is a usage error with the forms', async () => {
    const r = await cake(h.home, ['config', 'set', 'registry-mirrors', 'quay.io=not a host']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cake: invalid registry mirror "quay\.io=not a host": .*\nhint: give MIRROR \(for Docker Hub\) or REGISTRY=MIRROR/);
    const p = await cake(h.home, ['pull', 'docker://alpine', '--name', 'x'], { env: { CAKE_REGISTRY_MIRRORS: 'https://' } });
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/^cake: invalid registry mirror "https:\/\/"/);
  });
});

// issue 11 item 20: a mirror that serves the manifest but not a blob (missing, 5xx, corrupt) does
// not fail the pull: that blob comes from the next mirror, then the registry itself.
describe.skipIf(!haveRegistryTools())('registry mirrors: per-blob fallback', () => {
  let origin: TestRegistry;
  let mirror: TestRegistry;
  let proxy: FaultProxy;
  const homes: Array<{ home: string; cleanup(): void }> = [];
  const home = () => {
    const h = freshHome('cake-mirror-blobs-');
    homes.push(h);
    return h.home;
  };
  const l = layer(tar(file('hello', 'every blob verified\n')), 'gzip');
  const img = image([l], { env: ['PATH=/bin'] });
  const layerPath = new RegExp(`/blobs/${l.desc.digest}$`);

  beforeAll(async () => {
    [origin, mirror] = await Promise.all([TestRegistry.start(), TestRegistry.start()]);
    proxy = await FaultProxy.start(mirror.origin);
    await uploadImage(origin, 'team/app', '1', img);
    await uploadImage(mirror, 'ns/team/app', '1', img);
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await Promise.all([origin?.stop(), mirror?.stop()]);
    for (const h of homes) h.cleanup();
  });

  it('blobs missing on the mirror (404) come from the registry itself', async () => {
    proxy.reset();
    proxy.fail(/\/blobs\//, { type: 'status', status: 404 }, 10);
    const h = home();
    const r = await cake(h, ['pull', `docker://${origin.host}/team/app:1`, '--name', 'app'], { env: { CAKE_REGISTRY_MIRRORS: `${origin.host}=${proxy.host}/ns` } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`pulling through mirror ${proxy.host}/ns`);
    expect(r.stderr).toMatch(new RegExp(`blob ${l.desc.digest} from mirror ${proxy.host}/ns failed \\(.*404.*\\); trying the registry itself`));
    expect(r.stderr).toMatch(new RegExp(`blob ${digestOf(img.config)} from mirror ${proxy.host}/ns failed`));
    expect(readFileSync(join(h, 'v1/envs/app/rootfs/hello'), 'utf8')).toBe('every blob verified\n');
    expect(resolved(h, 'app')).toMatchObject({ registry: origin.host, mirror: `${proxy.host}/ns` });
    expect(proxy.to(layerPath).map((x) => x.status)).toEqual([404]);
  });

  it('a corrupt layer and a config that keeps failing with 503 come from the next mirror; the env is what the digests say', async () => {
    proxy.reset();
    proxy.fail(layerPath, { type: 'corrupt' }, 10);
    proxy.fail(/\/blobs\/sha256:/, { type: 'status', status: 503, retryAfter: 0 }, 10);
    const h = home();
    const env = { CAKE_REGISTRY_MIRRORS: `${origin.host}=${proxy.host}/ns,${origin.host}=${mirror.host}/ns` };
    const r = await cake(h, ['pull', `docker://${origin.host}/team/app:1`, '--name', 'app'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`blob ${l.desc.digest} from mirror ${proxy.host}/ns failed \\(.*does not match its digest.*\\); trying mirror ${mirror.host}/ns`));
    expect(r.stderr).toMatch(new RegExp(`blob ${digestOf(img.config)} from mirror ${proxy.host}/ns failed \\(.*503.*\\); trying mirror ${mirror.host}/ns`));
    expect(r.stderr).not.toContain('trying the registry itself');
    expect(readFileSync(join(h, 'v1/envs/app/rootfs/hello'), 'utf8')).toBe('every blob verified\n');
    expect(readdirSync(join(h, 'v1/store/tmp'))).toEqual([]);
  });

  it('when every source fails a blob, the last error is the one reported and nothing is installed', async () => {
    proxy.reset();
    proxy.fail(layerPath, { type: 'corrupt' }, 10);
    const dead = `127.0.0.1:${await deadPort()}`;
    const h = home();
    await uploadImage(mirror, `ns/dead/app`, '1', img);
    const r = await cake(h, ['pull', `docker://${dead}/dead/app:1`, '--name', 'app'], { env: { CAKE_REGISTRY_MIRRORS: `${dead}=${proxy.host}/ns` } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`blob ${l.desc.digest} from mirror ${proxy.host}/ns failed \\(.*does not match its digest.*\\); trying the registry itself`));
    expect(r.stderr).toMatch(new RegExp(`^cake: .*${dead.replace(/\./g, '\\.')}`, 'm'));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(h, 'v1/envs/app'))).toBe(false);
    expect(readdirSync(join(h, 'v1/store/tmp')).filter((n) => n.endsWith('.part'))).toEqual([]);
  });
});
