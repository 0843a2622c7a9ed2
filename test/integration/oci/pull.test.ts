import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { FaultProxy, TestRegistry, digestOf, REGISTRY_TOOLS, uploadImage } from '../../helpers/registry.js';
import { dir, file, hardlink, tar } from '../../helpers/tar-build.js';
import { image, index, layer, type BuiltImage } from './images.js';
import { missing, missingCommands } from '../../helpers/tools.js';
import { ENV_HASH_FORMAT, envHash, settingsOf, treeHash } from '../../../src/store/tree-hash.js';

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const OTHER_ARCH = HOST_ARCH === 'amd64' ? 'arm64' : 'amd64';

describe.skipIf(missingCommands(...REGISTRY_TOOLS) || missing('busybox-static', haveBusybox()))('cake pull docker:// (real registry, built CLI)', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  let app: BuiltImage;
  let other: BuiltImage;
  let multi: ReturnType<typeof index>;
  const homes: Array<{ cleanup(): void }> = [];
  const home = (): string => {
    const h = freshHome('cake-oci-');
    homes.push(h);
    return h.home;
  };
  const envDir = (h: string, name: string): string => join(h, 'v1/envs', name);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-oci-pull-'));
    reg = await TestRegistry.start();
    proxy = await FaultProxy.start(reg.origin);
    const bb = createBusyboxRootfs(join(work, 'bb'));
    const base = layer(execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], { maxBuffer: 1 << 28 }), 'gzip');
    // zstd: new files with a real owner, a whiteout of a lower file, a hard link into the lower layer
    const l2 = layer(
      tar(
        dir('srv/'),
        dir('srv/app/', { uid: 1234, gid: 1234 }),
        file('srv/app/README', 'read me\n', { uid: 1234, gid: 1234, mode: 0o640 }),
        file('etc/.wh.os-release'),
        hardlink('bin/linked-busybox', 'bin/busybox'),
        dir('opt/'),
        dir('opt/old/'),
        file('opt/old/a', 'a'),
        file('opt/old/b', 'b'),
      ),
      'zstd',
    );
    // uncompressed: an opaque directory
    const l3 = layer(tar(dir('opt/old/'), file('opt/old/.wh..wh..opq'), file('opt/old/c', 'c'), file('etc/motd', 'welcome\n')), 'none');
    app = image([base, l2, l3], {
      arch: HOST_ARCH,
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello from the image'],
      workingDir: '/srv/app',
      user: 'cakeuser',
      cmd: ['/bin/sh', '-c', 'echo hi'],
    });
    await uploadImage(reg, 'demo/app', 'v1', app);
    other = image([base, layer(tar(file('etc/second', 'two\n')), 'gzip')], { arch: HOST_ARCH });
    await uploadImage(reg, 'demo/other', 'v1', other);
    const marker = (arch: string): BuiltImage => image([layer(tar(file('arch', `${arch}\n`)), 'gzip')], { arch, ...(arch === 'arm64' ? { variant: 'v8' } : {}) });
    multi = index([
      { image: marker('unknown'), platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
      { image: marker(OTHER_ARCH), platform: { os: 'linux', architecture: OTHER_ARCH, ...(OTHER_ARCH === 'arm64' ? { variant: 'v8' } : {}) } },
      { image: marker(HOST_ARCH), platform: { os: 'linux', architecture: HOST_ARCH } },
    ]);
    await uploadImage(reg, 'demo/multi', 'latest', multi);
  });

  afterAll(async () => {
    await proxy?.close();
    await reg?.stop();
    for (const h of homes) h.cleanup();
    if (work) execFileSync('rm', ['-rf', work]);
  });

  it('pulls a three-layer image (gzip, zstd, plain) with whiteouts, an opaque dir and a hard link into a lower layer; prints the digest', async () => {
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`]);
    expect(r.stderr).toContain(`digest: ${app.digest} (pin it with docker://${proxy.host}/demo/app:v1@${app.digest})`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`app\t${app.digest}`);
    const root = join(envDir(h, 'app'), 'rootfs');
    expect(readFileSync(join(root, 'srv/app/README'), 'utf8')).toBe('read me\n');
    expect(existsSync(join(root, 'etc/os-release'))).toBe(false);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('welcome\n');
    expect(readdirSync(join(root, 'opt/old')).sort()).toEqual(['c']);
    expect(statSync(join(root, 'bin/linked-busybox')).ino).toBe(statSync(join(root, 'bin/busybox')).ino);
    const rec = JSON.parse(readFileSync(join(envDir(h, 'app'), 'env.json'), 'utf8'));
    expect(rec.source).toEqual({ kind: 'registry', ref: `docker://${proxy.host}/demo/app:v1` });
    expect(rec.resolved).toMatchObject({ manifestDigest: app.digest, platformManifest: app.digest, layers: app.layers.map((l) => l.desc.digest), repository: 'demo/app', tag: 'v1' });
    expect(rec.config).toEqual({ env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello from the image'], workingDir: '/srv/app', user: 'cakeuser', cmd: ['/bin/sh', '-c', 'echo hi'] });
    expect(rec.ownership['srv/app/README']).toEqual({ uid: 1234, gid: 1234, mode: 0o640 });
    expect(rec.arch).toBe(HOST_ARCH === 'amd64' ? 'x86_64' : 'aarch64');
    // The image's Env and WorkingDir are the defaults of exec; --cwd and --env still win.
    const ex = await cake(h, ['exec', 'app', '--', 'sh', '-c', 'echo "$GREETING"; pwd']);
    expect(ex.stderr).toBe('');
    expect(ex.stdout).toBe('hello from the image\n/srv/app');
    const ex2 = await cake(h, ['exec', 'app', '--cwd', '/opt', '--env', 'GREETING=over', '--', 'sh', '-c', 'echo "$GREETING"; pwd']);
    expect(ex2.stdout).toBe('over\n/opt');
  });

  it('prints and records the env hash: the files with the image config folded in, the hash a recipe from the image pins', async () => {
    const h = home();
    const ref = `docker://${proxy.host}/demo/app:v1`;
    const r = await cake(h, ['pull', ref]);
    expect(r.code, r.stderr).toBe(0);
    const recFile = join(envDir(h, 'app'), 'env.json');
    const rec = JSON.parse(readFileSync(recFile, 'utf8'));
    const hash = /tree: sha256:([0-9a-f]{64})/.exec(r.stderr)?.[1];
    expect(hash).toBe(rec.treeSha256);
    expect(rec.treeHashFormat).toBe(ENV_HASH_FORMAT);
    const files = await treeHash(join(envDir(h, 'app'), 'rootfs'), rec.ownership);
    expect(hash).not.toBe(files);
    expect(hash).toBe(envHash(files, settingsOf(rec)));
    // a recipe with no steps from the same image cooks to the same hash
    writeFileSync(join(work, 'from-app.yaml'), `from: ${ref}\n`);
    const c = await cake(h, ['cook', join(work, 'from-app.yaml')]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toBe(`from-app\tsha256:${hash}`);
    // an env an older cake pulled (the plain tree hash, no format): the next pull records the env hash
    writeFileSync(recFile, JSON.stringify({ ...rec, treeSha256: files, treeHashFormat: undefined }));
    const again = await cake(h, ['pull', ref, '--expect-sha256', hash!]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`tree: sha256:${hash} `);
    expect(JSON.parse(readFileSync(recFile, 'utf8'))).toMatchObject({ treeSha256: hash, treeHashFormat: ENV_HASH_FORMAT });
    const plain = await cake(h, ['pull', ref, '--expect-sha256', files]);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain(`app: the tree hash is sha256:${hash}, not the expected sha256:${files}`);
  });

  it('shares layers by digest: a second image with the same base downloads only its own layer', async () => {
    const h = home();
    expect((await cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`])).code).toBe(0);
    proxy.reset();
    const r = await cake(h, ['pull', `docker://${proxy.host}/demo/other:v1`]);
    expect(r.code, r.stderr).toBe(0);
    const blobGets = proxy.to(/\/blobs\/sha256:/).map((q) => q.path.replace(/^.*\/blobs\//, ''));
    expect(blobGets.sort()).toEqual([other.layers[1]!.desc.digest, digestOf(other.config)].sort());
    expect(readFileSync(join(envDir(h, 'other'), 'rootfs/etc/second'), 'utf8')).toBe('two\n');
    const rec = JSON.parse(readFileSync(join(envDir(h, 'other'), 'env.json'), 'utf8'));
    expect(rec.stats).toMatchObject({ layers: 2, layersDownloaded: 1 });
  });

  it('two concurrent pulls of one image fetch each blob once', async () => {
    const h = home();
    proxy.reset();
    const [a, b] = await Promise.all([
      cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`, '--name', 'one']),
      cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`, '--name', 'two']),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    for (const l of app.layers) expect(proxy.to(new RegExp(`/blobs/${l.desc.digest}$`)).filter((q) => q.status === 200)).toHaveLength(1);
    expect(readFileSync(join(envDir(h, 'two'), 'rootfs/etc/motd'), 'utf8')).toBe('welcome\n');
  });

  it('picks the host platform from an index (not the first entry), --platform another, and lists what there is otherwise', async () => {
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/demo/multi`, '--name', 'native']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`native\t${multi.digest}`);
    expect(readFileSync(join(envDir(h, 'native'), 'rootfs/arch'), 'utf8')).toBe(`${HOST_ARCH}\n`);
    const want = OTHER_ARCH === 'arm64' ? 'linux/arm64/v8' : 'linux/amd64';
    const f = await cake(h, ['pull', `docker://${proxy.host}/demo/multi`, '--name', 'foreign', '--platform', want]);
    expect(f.code, f.stderr).toBe(0);
    expect(readFileSync(join(envDir(h, 'foreign'), 'rootfs/arch'), 'utf8')).toBe(`${OTHER_ARCH}\n`);
    const rec = JSON.parse(readFileSync(join(envDir(h, 'foreign'), 'env.json'), 'utf8'));
    expect(rec.arch).toBe(OTHER_ARCH === 'arm64' ? 'aarch64' : 'x86_64');
    const none = await cake(h, ['pull', `docker://${proxy.host}/demo/multi`, '--name', 'z', '--platform', 'linux/s390x']);
    expect(none.code, none.stderr).toBe(1);
    const listed = OTHER_ARCH === 'arm64' ? `linux/arm64/v8, linux/${HOST_ARCH}` : `linux/amd64, linux/${HOST_ARCH}`;
    expect(none.stderr).toContain(`cake: docker://${proxy.host}/demo/multi:latest has no image for linux/s390x; it has ${listed}\nhint: pick one of those with --platform`);
    expect(existsSync(envDir(h, 'z'))).toBe(false);
  });

  it('pins by digest: a pinned pull that is already there asks the registry nothing', async () => {
    const h = home();
    const ref = `docker://${proxy.host}/demo/app@${app.digest}`;
    expect((await cake(h, ['pull', ref])).code).toBe(0);
    proxy.reset();
    const again = await cake(h, ['pull', ref]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('app is up to date');
    expect(proxy.requests).toEqual([]);
    // A tag is resolved again (one manifest request), and the env is kept as it is.
    const tagged = await cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`, '--name', 'app2']);
    expect(tagged.code, tagged.stderr).toBe(0);
    proxy.reset();
    const retag = await cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`, '--name', 'app2']);
    expect(retag.stderr).toContain('app2 is up to date');
    expect(proxy.to(/\/blobs\//)).toEqual([]);
  });

  it('names the reference in a 404 and installs nothing', async () => {
    const h = home();
    const r = await cake(h, ['pull', `docker://${proxy.host}/demo/app:nope`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`\ncake: fetching the manifest of docker://${proxy.host}/demo/app:nope: not found \\(404\\) \\(MANIFEST_UNKNOWN: manifest unknown\\)\\nhint: check the repository and tag`));
    const repo = await cake(h, ['pull', `docker://${proxy.host}/no/such:1`]);
    expect(repo.stderr).toContain(`docker://${proxy.host}/no/such:1: not found (404)`);
    expect(existsSync(join(h, 'v1/envs/app'))).toBe(false);
  });

  it('refuses malformed references as usage errors', async () => {
    const h = home();
    const r = await cake(h, ['pull', 'docker://127.0.0.1:1/Bad/Name']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('repository names must be lowercase');
  });
});
