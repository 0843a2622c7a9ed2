/**
 * `cake gc` keeps what is in use (issue 15 item 5): every blob an env record names (a registry
 * env's layers and config too), and everything a running pull may be using — gc in a loop beside
 * registry and URL pulls whose blobs are unreferenced between runs never breaks a pull.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { createBusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { TestHttpServer } from '../../helpers/http-server.js';
import { FaultProxy, TestRegistry, uploadImage } from '../../helpers/registry.js';
import { file, tar } from '../../helpers/tar-build.js';
import { removeTreeSync } from '../../../src/archive/remove-tree.js';
import { image, layer } from '../oci/images.js';

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';

describe('cake gc beside pulls (real registry, built CLI)', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let server: TestHttpServer;
  let work: string;
  let tarball: Buffer;
  const homes: Array<{ cleanup(): void }> = [];
  const home = (): string => {
    const h = freshHome('cake-gc-');
    homes.push(h);
    return h.home;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-gc-'));
    reg = await TestRegistry.start();
    proxy = await FaultProxy.start(reg.origin);
    const bb = createBusyboxRootfs(join(work, 'bb'));
    const rootTar = execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], { maxBuffer: 1 << 28 });
    await uploadImage(reg, 'demo/app', 'v1', image([layer(rootTar, 'gzip'), layer(tar(file('etc/app', 'app\n')), 'gzip')], { arch: HOST_ARCH }));
    tarball = execFileSync('gzip', ['-c'], { input: rootTar, maxBuffer: 1 << 28 });
    server = await TestHttpServer.start();
    server.file('/bb.tar.gz', tarball);
  });

  afterAll(async () => {
    await proxy?.close();
    await reg?.stop();
    await server?.close();
    for (const h of homes) h.cleanup();
    if (work) removeTreeSync(work);
  });

  it("keeps a registry env's layers: after gc a forced re-pull downloads no layer", async () => {
    const h = home();
    const pulled = await cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`, '--name', 'app']);
    expect(pulled.code, pulled.stderr).toBe(0);
    const record = JSON.parse(readFileSync(join(h, 'v1/envs/app/env.json'), 'utf8')) as { resolved: { layers: string[]; config: string } };
    const blobs = readdirSync(join(h, 'v1/store/blobs/sha256')).sort();
    for (const d of record.resolved.layers) expect(blobs).toContain(d.replace(/^sha256:/, ''));
    const gc = await cake(h, ['gc']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stderr).toContain('removed 0 unreferenced blob(s)');
    expect(readdirSync(join(h, 'v1/store/blobs/sha256')).sort()).toEqual(blobs);
    proxy.reset();
    const again = await cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`, '--name', 'app', '--force']);
    expect(again.code, again.stderr).toBe(0);
    // the config is read from the registry (it is small and not stored); no layer is downloaded again
    for (const d of record.resolved.layers) expect(proxy.to(new RegExp(`/blobs/${d}`))).toEqual([]);
    // once the env is gone, gc frees them
    expect((await cake(h, ['rm', 'app'])).code).toBe(0);
    const freed = await cake(h, ['gc']);
    expect(freed.stderr).toContain(`removed ${blobs.length} unreferenced blob(s)`);
  });

  it('gc in a loop beside registry and URL pulls whose blobs are unreferenced between rounds: every pull succeeds', async () => {
    const h = home();
    let stop = false;
    const gcs: number[] = [];
    const loop = (async () => {
      while (!stop) gcs.push((await cake(h, ['gc'])).code);
    })();
    try {
      for (let i = 0; i < 4; i++) {
        const [r, u] = await Promise.all([
          cake(h, ['pull', `docker://${proxy.host}/demo/app:v1`, '--name', `r${i}`]),
          cake(h, ['pull', server.url('/bb.tar.gz'), '--name', `u${i}`]),
        ]);
        expect(r.code, r.stderr).toBe(0);
        expect(u.code, u.stderr).toBe(0);
        expect((await cake(h, ['exec', `r${i}`, '--', '/bin/cat', '/etc/app'])).stdout).toBe('app');
        // unreferenced again: the next gc may delete them at any moment
        expect((await cake(h, ['rm', `r${i}`, `u${i}`])).code).toBe(0);
      }
    } finally {
      stop = true;
      await loop;
    }
    expect(gcs.length).toBeGreaterThan(0);
    expect(gcs.every((c) => c === 0)).toBe(true);
    const last = await cake(h, ['gc']);
    expect(last.code).toBe(0);
    expect(readdirSync(join(h, 'v1/store/blobs/sha256'))).toEqual([]);
  });
});
