import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { FaultProxy, TestRegistry, REGISTRY_TOOLS, uploadImage } from '../../helpers/registry.js';
import { dir, entry, file, hardlink, symlink, tar } from '../../helpers/tar-build.js';
import { image, layer } from './images.js';
import { HttpClient } from '../../../src/net/http-client.js';
import { silentLogger } from '../../../src/model/logger.js';
import { CredentialStore } from '../../../src/oci/credentials.js';
import { RegistryAuth } from '../../../src/oci/auth.js';
import { RegistryClient } from '../../../src/oci/registry-client.js';
import { buildImage, pushToRegistry } from '../../../src/oci/push.js';
import { missingCommands } from '../../helpers/tools.js';

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** path → type, content hash or link target (modes and owners are checked on the tar listing). */
function tree(root: string, skip: RegExp = /^dev\//): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.test(r)) continue;
      const st = lstatSync(join(root, r));
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(join(root, r))}`);
      else out.push(`${r} ${createHash('sha256').update(readFileSync(join(root, r))).digest('hex').slice(0, 16)}`);
    }
  };
  walk('');
  return out;
}

describe.skipIf(missingCommands(...REGISTRY_TOOLS))('cake push (real registry, read back with skopeo and umoci)', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  let h: { home: string; cleanup(): void };
  let env: Record<string, string>;
  const creds = { user: 'bob', password: 'pw' };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-oci-push-'));
    reg = await TestRegistry.start({ auth: 'token', users: { bob: 'pw' } });
    proxy = await FaultProxy.start(reg.origin);
    const userHome = join(work, 'user');
    mkdirSync(join(userHome, '.docker'), { recursive: true });
    writeFileSync(join(userHome, '.docker/config.json'), JSON.stringify({ auths: { [proxy.host]: { auth: b64('bob:pw') } } }));
    env = { HOME: userHome, DOCKER_CONFIG: '', REGISTRY_AUTH_FILE: '', XDG_CONFIG_HOME: '', XDG_RUNTIME_DIR: '', SOURCE_DATE_EPOCH: '1700000000' };
    // The source env: an image with real owners, modes a user cannot keep on disk, links and a device.
    const l = layer(
      tar(
        dir('etc/'),
        file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
        file('etc/shadow', 'root:*:1::::::\n', { mode: 0o640, gid: 42 }),
        dir('srv/', { uid: 1234, gid: 1234, mode: 0o750 }),
        file('srv/data', 'data\n', { uid: 1234, gid: 1234, mode: 0o600 }),
        file('srv/ro', 'read only\n', { mode: 0o444 }),
        file('usr-bin-su', 'su\n', { mode: 0o4755 }),
        hardlink('srv/data-link', 'srv/data'),
        symlink('lib', 'usr/lib'),
        dir('usr/'),
        dir('usr/lib/'),
        dir('locked/', { mode: 0o500 }),
        file('locked/f', 'x', { mode: 0o400 }),
        dir('dev/'),
        entry({ name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }),
      ),
      'gzip',
    );
    await uploadImage(reg, 'src/img', 'v1', image([l], { arch: HOST_ARCH, env: ['PATH=/bin', 'MODE=pushed'], workingDir: '/srv', cmd: ['/bin/sh'] }), creds);
    h = freshHome('cake-oci-push-');
    const r = await cake(h.home, ['pull', `docker://${proxy.host}/src/img:v1`, '--name', 'img'], { env });
    expect(r.code, r.stderr).toBe(0);
  });

  afterAll(async () => {
    await proxy?.close();
    await reg?.stop();
    h?.cleanup();
    if (work) execFileSync('sh', ['-c', `chmod -R u+rwX ${work}; rm -rf ${work}`]);
  });

  it('pushes an env as a one-layer OCI image that skopeo and umoci read back as the same tree, with real ownership', async () => {
    proxy.reset();
    const r = await cake(h.home, ['push', 'img', `docker://${proxy.host}/out/img:v1`], { env });
    expect(r.stderr).toContain('pushed img');
    expect(r.code, r.stderr).toBe(0);
    const m = /^docker:\/\/(.+)\/out\/img:v1@(sha256:[0-9a-f]{64})$/.exec(r.stdout);
    expect(m?.[1]).toBe(proxy.host);
    // a small layer goes up in one PUT; no PATCH
    expect(proxy.to(/\/blobs\/uploads\//, 'PATCH')).toEqual([]);
    expect(proxy.to(/\/blobs\/uploads\//, 'PUT').length).toBe(2);
    const layout = join(work, 'layout');
    await execa('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--src-creds', 'bob:pw', `docker://${proxy.host}/out/img:v1`, `oci:${layout}:t`]);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(m![2]);
    const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', m![2]!.slice(7)), 'utf8'));
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const config = JSON.parse(readFileSync(join(layout, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'));
    expect(config).toMatchObject({ architecture: HOST_ARCH, os: 'linux', created: '2023-11-14T22:13:20Z', config: { Env: ['PATH=/bin', 'MODE=pushed'], WorkingDir: '/srv', Cmd: ['/bin/sh'] } });
    // Real ownership and modes, as GNU tar reads the layer.
    const listing = execFileSync('tar', ['-tvzf', join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7)), '--numeric-owner'], { encoding: 'utf8' });
    const line = (name: string): string => listing.split('\n').find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} `)) ?? `(no ${name})`;
    expect(line('srv/')).toMatch(/^drwxr-x--- 1234\/1234 /);
    expect(line('srv/data')).toMatch(/^-rw------- 1234\/1234 /);
    expect(line('etc/shadow')).toMatch(/^-rw-r----- 0\/42 /);
    expect(line('srv/ro')).toMatch(/^-r--r--r-- 0\/0 /);
    expect(line('usr-bin-su')).toMatch(/^-rwsr-xr-x 0\/0 /);
    expect(line('locked/')).toMatch(/^dr-x------ 0\/0 /);
    expect(line('dev/null')).toMatch(/^crw-rw-rw- 0\/0 +1,3 /);
    expect(line('srv/data-link')).toMatch(/^hrw------- 1234\/1234 .* srv\/data-link link to srv\/data$/);
    expect(line('lib')).toMatch(/lib -> usr\/lib$/);
    expect(listing).toMatch(/ 2023-11-1[45] /);
    // umoci, a client cake did not write, unpacks the same tree.
    const bundle = join(work, 'bundle');
    await execa('umoci', ['unpack', '--rootless', '--image', `${layout}:t`, bundle]);
    expect(tree(join(bundle, 'rootfs'))).toEqual(tree(join(h.home, 'v1/envs/img/rootfs')));
  });

  it('is deterministic with SOURCE_DATE_EPOCH; blobs already there are not uploaded again, and another repository mounts them', async () => {
    const first = await cake(h.home, ['push', 'img', `docker://${proxy.host}/out/img:v2`], { env });
    proxy.reset();
    const again = await cake(h.home, ['push', 'img', `docker://${proxy.host}/out/img:v3`], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split('@')[1]).toBe(first.stdout.split('@')[1]);
    expect(again.stderr).toContain('layer already there');
    expect(proxy.to(/\/blobs\/uploads\//, 'POST')).toEqual([]);
    proxy.reset();
    const other = await cake(h.home, ['push', 'img', `docker://${proxy.host}/elsewhere/img:v1`], { env });
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout.split('@')[1]).toBe(first.stdout.split('@')[1]);
    expect(other.stderr).toContain('layer mounted from another repository');
    const posts = proxy.to(/\/blobs\/uploads\//, 'POST');
    expect(posts.map((p) => p.status)).toEqual([201, 201]);
    expect(posts[0]!.path).toMatch(/\?mount=sha256%3A[0-9a-f]{64}&from=out%2Fimg$/);
    // and cake pulls it back
    const back = await cake(h.home, ['pull', `docker://${proxy.host}/elsewhere/img:v1`, '--name', 'back'], { env });
    expect(back.code, back.stderr).toBe(0);
    expect(tree(join(h.home, 'v1/envs/back/rootfs'), /^$/)).toEqual(tree(join(h.home, 'v1/envs/img/rootfs'), /^$/));
    const rec = JSON.parse(readFileSync(join(h.home, 'v1/envs/back/env.json'), 'utf8'));
    const orig = JSON.parse(readFileSync(join(h.home, 'v1/envs/img/env.json'), 'utf8'));
    expect(rec.ownership).toEqual(orig.ownership);
    expect(rec.config).toEqual(orig.config);
  });

  it('pushes a distro-like env twice to the same repository (layer > 1 MiB), with a default Cmd and PATH (issue 11 items 11, 12)', async () => {
    const src = join(work, 'distro-like.tar');
    // incompressible, so the gzip layer is well over 1 MiB: the HEAD of the blob then declares > 1 MiB
    const big = Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 2654435761) >>> 24));
    writeFileSync(src, tar(dir('etc/'), file('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n'), dir('bin/'), file('bin/bash', 'not really\n', { mode: 0o755 }), file('bin/sh', 'sh\n', { mode: 0o755 }), file('blob', big)));
    const pulled = await cake(h.home, ['pull', src, '--name', 'distro'], { env });
    expect(pulled.code, pulled.stderr).toBe(0);
    const target = `docker://${proxy.host}/twice/distro:v1`;
    const first = await cake(h.home, ['push', 'distro', target], { env });
    expect(first.code, first.stderr).toBe(0);
    const second = await cake(h.home, ['push', 'distro', target], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('layer already there');
    expect(second.stdout).toBe(first.stdout);
    // async: the proxy runs in this process
    const inspect = async (ref: string): Promise<string> => (await execa('skopeo', ['inspect', '--config', '--tls-verify=false', '--creds', 'bob:pw', ref])).stdout;
    const cfg = JSON.parse(await inspect(`docker://${proxy.host}/twice/distro:v1`)) as { config: { Cmd?: string[]; Env?: string[] } };
    expect(cfg.config.Cmd).toEqual(['/bin/bash']);
    expect(cfg.config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    // a registry image keeps its own config
    const own = await cake(h.home, ['push', 'img', `docker://${proxy.host}/twice/img:v1`], { env });
    expect(own.code, own.stderr).toBe(0);
    const ownCfg = JSON.parse(await inspect(`docker://${proxy.host}/twice/img:v1`)) as {
      config: { Cmd?: string[]; Env?: string[]; WorkingDir?: string };
    };
    expect(ownCfg.config).toMatchObject({ Cmd: ['/bin/sh'], Env: ['PATH=/bin', 'MODE=pushed'], WorkingDir: '/srv' });
  });

  it('uploads large blobs in PATCH chunks', async () => {
    const http = new HttpClient({ logger: silentLogger });
    try {
      const auth = new RegistryAuth({ http, credentials: new CredentialStore(env), logger: silentLogger });
      const client = new RegistryClient({ http, auth, logger: silentLogger });
      const rootfs = join(work, 'chunky');
      mkdirSync(rootfs);
      writeFileSync(join(rootfs, 'noise'), execFileSync('head', ['-c', '300000', '/dev/urandom']));
      const built = await buildImage({ rootfs, ownership: {}, arch: 'x86_64', layerPath: join(work, 'chunky.tgz'), sourceDateEpoch: 1 });
      proxy.reset();
      const res = await pushToRegistry(client, { registry: proxy.host, repository: 'chunks/one', what: 'chunks/one' }, 'v1', built, { logger: silentLogger, chunkSize: 64 * 1024 });
      expect(res.blobs.map((b) => b.how)).toEqual(['chunked', 'monolithic']);
      const patches = proxy.to(/\/blobs\/uploads\//, 'PATCH');
      expect(patches.length).toBe(Math.ceil(built.layer.size / 65536));
      expect(patches.map((p) => p.headers['content-range'])).toEqual(patches.map((_, i) => `${i * 65536}-${Math.min((i + 1) * 65536, built.layer.size) - 1}`));
      const out = await cake(h.home, ['pull', `docker://${proxy.host}/chunks/one:v1`, '--name', 'chunky'], { env });
      expect(out.code, out.stderr).toBe(0);
      expect(readFileSync(join(h.home, 'v1/envs/chunky/rootfs/noise')).equals(readFileSync(join(rootfs, 'noise')))).toBe(true);
    } finally {
      await http.close();
    }
  });

  it('writes an OCI layout that cake and umoci read', async () => {
    const dirPath = join(work, 'pushed-layout');
    const r = await cake(h.home, ['push', 'img', `oci:${dirPath}:snap`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^oci:${dirPath}:snap@sha256:[0-9a-f]{64}$`));
    const back = await cake(h.home, ['pull', `oci:${dirPath}:snap`, '--name', 'from-layout'], { env });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).toContain(`digest: ${r.stdout.split('@')[1]}`);
    expect(tree(join(h.home, 'v1/envs/from-layout/rootfs'), /^$/)).toEqual(tree(join(h.home, 'v1/envs/img/rootfs'), /^$/));
    const ls = await execa('umoci', ['ls', '--layout', dirPath]);
    expect(ls.stdout.trim()).toBe('snap');
  });

  it('refuses a digest as the push target and unknown envs', async () => {
    const d = await cake(h.home, ['push', 'img', `docker://${proxy.host}/out/img@sha256:${'0'.repeat(64)}`], { env });
    expect(d.code, d.stderr).toBe(2);
    expect(d.stderr).toContain('push to a tag, not a digest');
    const n = await cake(h.home, ['push', 'nope', `docker://${proxy.host}/out/img:v1`], { env });
    expect(n.code, n.stderr).toBe(1);
    expect(n.stderr).toContain('no environment named nope');
  });
});
