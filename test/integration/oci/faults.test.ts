import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { TestHttpServer } from '../../helpers/http-server.js';
import { FaultProxy, TestRegistry, digestOf, REGISTRY_TOOLS, uploadImage } from '../../helpers/registry.js';
import { file, tar } from '../../helpers/tar-build.js';
import { image, index, layer, type BuiltImage } from './images.js';
import { missingCommands } from '../../helpers/tools.js';

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';

describe.skipIf(missingCommands(...REGISTRY_TOOLS))('registry faults: retries, resume, redirects, digests that do not match', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let big: BuiltImage;
  let bigLayer: string;
  let lying: BuiltImage;
  let multi: ReturnType<typeof index>;
  const payload = randomBytes(3 * 1024 * 1024);
  const homes: Array<{ cleanup(): void }> = [];
  const home = (): string => {
    const h = freshHome('cake-oci-faults-');
    homes.push(h);
    return h.home;
  };
  const blobPath = (d: string): RegExp => new RegExp(`/blobs/${d}$`);
  /** Nothing of a failed pull is left: no env, no staging dir, no blob of the failing digest. */
  function nothingInstalled(h: string, digest?: string): void {
    const envs = join(h, 'v1/envs');
    expect(existsSync(envs) ? readdirSync(envs) : []).toEqual([]);
    if (digest) expect(existsSync(join(h, 'v1/store/blobs/sha256', digest.slice(7)))).toBe(false);
  }

  beforeAll(async () => {
    reg = await TestRegistry.start();
    proxy = await FaultProxy.start(reg.origin);
    big = image([layer(tar(file('data.bin', payload)), 'gzip')], { arch: HOST_ARCH });
    bigLayer = big.layers[0]!.desc.digest;
    await uploadImage(reg, 'f/big', 'v1', big);
    const l = layer(tar(file('x', 'x\n')), 'gzip');
    lying = image([l], { arch: HOST_ARCH }, { diffIds: [digestOf(Buffer.from('something else'))] });
    await uploadImage(reg, 'f/lying', 'v1', lying);
    multi = index([{ image: image([l], { arch: HOST_ARCH }), platform: { os: 'linux', architecture: HOST_ARCH } }]);
    await uploadImage(reg, 'f/multi', 'v1', multi);
  });

  beforeEach(() => proxy.reset());

  afterAll(async () => {
    await proxy?.close();
    await reg?.stop();
    for (const h of homes) h.cleanup();
  });

  it('resumes a blob download that dropped midway with Range', async () => {
    proxy.fail(blobPath(bigLayer), { type: 'drop', afterBytes: 1_000_000 });
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/f/big:v1`]);
    expect(r.code, r.stderr).toBe(0);
    const gets = proxy.to(blobPath(bigLayer));
    expect(gets.map((g) => g.fault)).toEqual(['drop', undefined]);
    const from = Number(/^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range))?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(1_000_000);
    expect(gets[1]!.status).toBe(206);
    expect(readFileSync(join(h, 'v1/envs/big/rootfs/data.bin')).equals(payload)).toBe(true);
  });

  it('retries 429 and 503 (honouring Retry-After) on manifests and blobs', async () => {
    proxy.fail(/\/manifests\/v1$/, { type: 'status', status: 429, retryAfter: 0 });
    proxy.fail(blobPath(bigLayer), { type: 'status', status: 503, retryAfter: 0 }, 2);
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/f/big:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.to(/\/manifests\/v1$/).map((q) => q.status)).toEqual([429, 200]);
    expect(proxy.to(blobPath(bigLayer)).map((q) => q.status)).toEqual([503, 503, 200]);
  });

  it('gives up on a registry that keeps failing, naming the status', async () => {
    proxy.fail(/\/manifests\/v1$/, { type: 'status', status: 503, retryAfter: 0 }, 20);
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/f/big:v1`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`/v2/f/big/manifests/v1: 503 Service Unavailable`);
    expect(r.stderr).toContain('(5 attempts made)');
    nothingInstalled(h);
  });

  it('a 403 names the reference', async () => {
    proxy.fail(/\/manifests\/v1$/, { type: 'status', status: 403 });
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/f/big:v1`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`cake: fetching the manifest of docker://${proxy.host}/f/big:v1: access denied (403)`);
  });

  it('a blob whose bytes do not match its digest installs nothing and stores nothing', async () => {
    proxy.fail(blobPath(bigLayer), { type: 'corrupt' }, 10);
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/f/big:v1`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`cake: blob ${bigLayer} of docker://${proxy.host}/f/big:v1 does not match its digest`);
    nothingInstalled(h, bigLayer);
    expect(readdirSync(join(h, 'v1/store/tmp')).filter((f) => f.includes(bigLayer.slice(7)))).toEqual([]);
  });

  it('a manifest that does not match: pinned digest, tag (Docker-Content-Digest) and an index child', async () => {
    const h = home();
    proxy.fail(/\/manifests\//, { type: 'corrupt', at: 20 });
    const pinned = await cake(h, ['pull', `docker://${proxy.host}/f/big@${big.digest}`]);
    expect(pinned.code, pinned.stderr).toBe(1);
    expect(pinned.stderr).toContain(`cake: the manifest of docker://${proxy.host}/f/big@${big.digest} does not match its digest: expected ${big.digest}, got sha256:`);
    proxy.fail(/\/manifests\//, { type: 'corrupt', at: 20 });
    const tagged = await cake(h, ['pull', `docker://${proxy.host}/f/big:v1`]);
    expect(tagged.code, tagged.stderr).toBe(1);
    expect(tagged.stderr).toContain(`does not match its digest: expected ${big.digest}`);
    const child = JSON.parse(multi.manifest.bytes.toString()).manifests[0].digest as string;
    proxy.fail(new RegExp(`/manifests/${child}$`), { type: 'corrupt', at: 20 });
    const nested = await cake(h, ['pull', `docker://${proxy.host}/f/multi:v1`]);
    expect(nested.code, nested.stderr).toBe(1);
    expect(nested.stderr).toContain(`expected ${child}`);
    nothingInstalled(h);
  });

  it('a layer that does not unpack to its diff_id installs nothing', async () => {
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/f/lying:v1`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`unpacks to ${lying.layers[0]!.diffId}, not its diff_id ${digestOf(Buffer.from('something else'))}`);
    nothingInstalled(h);
  });
});

describe.skipIf(missingCommands(...REGISTRY_TOOLS))('blob redirects to another host', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let cdn: TestHttpServer;
  let img: BuiltImage;

  beforeAll(async () => {
    reg = await TestRegistry.start({ auth: 'token', users: { bob: 'pw' }, anonymousPull: /^public\// });
    proxy = await FaultProxy.start(reg.origin);
    cdn = await TestHttpServer.start();
    img = image([layer(tar(file('hello', 'from the cdn\n')), 'gzip')], { arch: HOST_ARCH });
    await uploadImage(reg, 'public/img', 'v1', img, { user: 'bob', password: 'pw' });
    const l = img.layers[0]!;
    cdn.file(`/cdn/${l.desc.digest.slice(7)}`, l.bytes);
  });

  afterAll(async () => {
    await Promise.all([proxy?.close(), cdn?.close()]);
    await reg?.stop();
  });

  it('follows a 307 for a blob without sending the registry token to the other host', async () => {
    const l = img.layers[0]!;
    proxy.fail(new RegExp(`/blobs/${l.desc.digest}$`), { type: 'redirect', location: () => cdn.url(`/cdn/${l.desc.digest.slice(7)}`) });
    const h = freshHome('cake-oci-redirect-');
    try {
      const r = await cake(h.home, ['pull', `docker://${proxy.host}/public/img:v1`], { env: { HOME: h.home, DOCKER_CONFIG: '', REGISTRY_AUTH_FILE: '' } });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(h.home, 'v1/envs/img/rootfs/hello'), 'utf8')).toBe('from the cdn\n');
      const asked = proxy.to(new RegExp(`/blobs/${l.desc.digest}$`));
      expect(asked).toHaveLength(1);
      expect(asked[0]!.headers.authorization).toMatch(/^Bearer /);
      const served = cdn.requestsTo(`/cdn/${l.desc.digest.slice(7)}`);
      expect(served).toHaveLength(1);
      expect(served[0]!.headers.authorization).toBeUndefined();
    } finally {
      h.cleanup();
    }
  });
});

describe.skipIf(missingCommands(...REGISTRY_TOOLS))('plain HTTP only for loopback registries unless --insecure', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await TestRegistry.start();
    await uploadImage(reg, 'p/img', 'v1', image([layer(tar(file('f', 'f\n')), 'gzip')], { arch: HOST_ARCH }));
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('speaks HTTPS to a registry with a real host name, and falls back to HTTP only when insecure', async () => {
    const { HttpClient } = await import('../../../src/net/http-client.js');
    const { RegistryAuth } = await import('../../../src/oci/auth.js');
    const { CredentialStore } = await import('../../../src/oci/credentials.js');
    const { RegistryClient } = await import('../../../src/oci/registry-client.js');
    const { silentLogger } = await import('../../../src/model/logger.js');
    const http = new HttpClient({ logger: silentLogger, retries: 0, resolve: { 'registry.cake.test': '127.0.0.1' } });
    try {
      const make = (insecure: boolean) => new RegistryClient({ http, auth: new RegistryAuth({ http, credentials: new CredentialStore({}), logger: silentLogger }), logger: silentLogger, insecure });
      const repo = { registry: `registry.cake.test:${reg.port}`, repository: 'p/img', what: `docker://registry.cake.test:${reg.port}/p/img:v1` };
      const err = await make(false).getManifest(repo, 'v1').catch((e: unknown) => e as { code: string; hint: string });
      expect(err).toMatchObject({ code: 'network' });
      expect((err as { hint: string }).hint).toMatch(/serves plain HTTP, pass --insecure$/);
      const ok = await make(true).getManifest(repo, 'v1');
      expect(ok.contentType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(await make(true).base(repo.registry)).toBe(`http://registry.cake.test:${reg.port}`);
    } finally {
      await http.close();
    }
  });
});
