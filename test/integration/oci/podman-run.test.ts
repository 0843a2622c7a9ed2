/**
 * issue 11 item 12: images cake pushes run under the real podman without a command. An env built
 * from a root filesystem (no image config) gets the login shell as its Cmd and a PATH; an env
 * pulled from a registry image keeps that image's own Entrypoint/Cmd and Env.
 *
 * podman runs rootless as a plain user (nobody, dropped to with setpriv): as root it fails here
 * (an rlimit error in this container); `podman --runtime runc run --network=none` is the form that
 * works rootless on these hosts. CI runs the same invocation.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { cake, freshHome } from '../../helpers/cli.js';
import { TestRegistry, haveRegistryTools, uploadImage } from '../../helpers/registry.js';
import { image, layer } from './images.js';

const NOBODY = 65534;

describe.skipIf(!haveRegistryTools() || !haveBusybox())('pushed images under rootless podman run', () => {
  let reg: TestRegistry;
  let work: string;
  let podmanHome: string;
  const h = freshHome('cake-podman-run-');

  /** `podman --runtime runc run --rm -i --network=none ARGS…` as nobody, with its own HOME and runtime dir. */
  const podmanRun = (args: string[], input = ''): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(
      'setpriv',
      ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${podmanHome}`, `XDG_RUNTIME_DIR=${join(podmanHome, 'run')}`,
        'podman', '--runtime', 'runc', 'run', '--rm', '-i', '--network=none', '--tls-verify=false', ...args],
      { input, encoding: 'utf8', timeout: 120_000, cwd: podmanHome },
    );
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    reg = await TestRegistry.start();
    work = mkdtempSync(join(tmpdir(), 'cake-podman-run-'));
    chmodSync(work, 0o755);
    podmanHome = join(work, 'podman-home');
    mkdirSync(join(podmanHome, 'run'), { recursive: true, mode: 0o700 });
    chownSync(podmanHome, NOBODY, NOBODY);
    chownSync(join(podmanHome, 'run'), NOBODY, NOBODY);
    // a root filesystem without any image config
    const bb = createBusyboxRootfs();
    execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-cf', join(work, 'bb.tar'), '.']);
    // a registry image with its own Entrypoint, Cmd and Env, on the same base
    const base = layer(execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], { maxBuffer: 1 << 28 }), 'gzip');
    bb.cleanup();
    await uploadImage(reg, 'team/own', '1', image([base], { env: ['PATH=/bin:/usr/bin', 'WHO=the image'], entrypoint: ['/bin/sh', '-c'], cmd: ['echo "own cmd of $WHO"'] }));
  }, 120_000);

  afterAll(async () => {
    await reg?.stop();
    h.cleanup();
    if (work) {
      spawnSync('chmod', ['-R', 'u+rwX', work]);
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('an env made from a rootfs tarball: `podman run IMAGE` with no command opens its login shell, PATH set', async () => {
    expect((await cake(h.home, ['import', join(work, 'bb.tar'), '--name', 'plain'])).code).toBe(0);
    const push = await cake(h.home, ['push', 'plain', `docker://${reg.host}/team/plain:1`]);
    expect(push.code, push.stderr).toBe(0);
    const r = podmanRun([`${reg.host}/team/plain:1`], 'echo "shell $0"; echo "PATH=$PATH"; exit 7\n');
    expect(r.stderr).not.toMatch(/no command or entrypoint/i);
    expect(r.stdout).toMatch(/^shell (-?\/bin\/)?sh\nPATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin\n$/);
    expect(r.code, r.stderr).toBe(7);
  });

  it("an env pulled from a registry image keeps the image's own Entrypoint, Cmd and Env when pushed again", async () => {
    expect((await cake(h.home, ['pull', `docker://${reg.host}/team/own:1`, '--name', 'own'])).code).toBe(0);
    const push = await cake(h.home, ['push', 'own', `docker://${reg.host}/team/own-again:1`]);
    expect(push.code, push.stderr).toBe(0);
    const r = podmanRun([`${reg.host}/team/own-again:1`]);
    expect(r.stdout, r.stderr).toBe('own cmd of the image\n');
    expect(r.code).toBe(0);
  });
});
