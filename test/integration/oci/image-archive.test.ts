import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { file, tar } from '../../helpers/tar-build.js';

// issue 11 item 14: `podman save` archives through `cake pull ./x.tar` (the real podman).
describe('podman save archives', () => {
  let work: string;
  const tag = `localhost/cake-archive-test:${process.pid}`;
  const h = freshHome('cake-image-archive-');

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-image-archive-'));
    writeFileSync(join(work, 'root.tar'), tar(file('hello', 'from podman\n')));
    execFileSync('podman', ['import', join(work, 'root.tar'), tag], { stdio: 'ignore' });
    execFileSync('podman', ['save', '-o', join(work, 'docker.tar'), tag], { stdio: 'ignore' });
    execFileSync('podman', ['save', '--format', 'oci-archive', '-o', join(work, 'oci.tar'), tag], { stdio: 'ignore' });
  }, 120_000);

  afterAll(() => {
    execFileSync('podman', ['rmi', '-f', tag], { stdio: 'ignore' });
    h.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('an oci-archive is unpacked as the image it holds, its temporary layout removed', async () => {
    const r = await cake(h.home, ['pull', join(work, 'oci.tar'), '--name', 'oa']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(h.home, 'v1/envs/oa/rootfs/hello'), 'utf8')).toBe('from podman\n');
    expect(execFileSync('ls', ['-A', join(h.home, 'v1/store/tmp')]).toString().trim()).toBe('');
  });

  it('a docker-archive is recognised and refused with what to do, never unpacked as a rootfs', async () => {
    const r = await cake(h.home, ['pull', join(work, 'docker.tar'), '--name', 'da']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cake: \S+docker\.tar is an image archive \(docker-archive, as podman save \/ docker save write it\), not a root filesystem tarball\nhint: .*skopeo copy docker-archive:/);
    expect(execFileSync('ls', ['-A', join(h.home, 'v1/envs')]).toString()).not.toMatch(/\bda\b/);
  });
});
