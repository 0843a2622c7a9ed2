/**
 * Ownership recording in envs that were not built from the Debian archive (issue 16.1): a
 * tarball written by mmdebstrap (not by cake) and the same tree pulled back from a real registry.
 * They get the standard fakeroot kit (src/kit/standard-kit.ts): the guest sees the tar headers'
 * owners at once, apt-get installs packages whose maintainer scripts chown, on the default engine
 * and on proot, and `cake push` carries the recorded owners in the layer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { debianMinbaseTarball } from '../../helpers/debian-minbase.js';
import { linkProvisionedProot, provisionTestProot } from '../../helpers/provisioned-proot.js';
import { TestRegistry } from '../../helpers/registry.js';
import { resolvePaths } from '../../../src/store/paths.js';

const INSTALL = 'apt-get update -q && apt-get install -y -q openssh-server nginx-light cron >/dev/null';
/**
 * proot 5.4.0 aborts in systemd's postinst (path.c:547 compare_paths2, with or without fakeroot),
 * and openssh-server recommends systemd through logind: under proot, without recommends.
 */
const INSTALL_PROOT = INSTALL.replace('install -y', 'install -y --no-install-recommends');
/** Owners that the packages' maintainer scripts set (chown/chgrp/dpkg-statoverride). */
const OWNERS = ['stat', '-c', '%n %U:%G %a', '/etc/shadow', '/var/log/nginx/access.log', '/var/spool/cron/crontabs', '/usr/bin/crontab', '/etc/ssh/ssh_host_ed25519_key'];
const EXPECTED = [
  '/etc/shadow root:shadow 640',
  '/var/log/nginx/access.log www-data:adm 640',
  '/var/spool/cron/crontabs root:crontab 1730',
  '/usr/bin/crontab root:crontab 2755',
  '/etc/ssh/ssh_host_ed25519_key root:root 600',
];

describe('ownership in imported and registry-pulled Debian envs (standard fakeroot kit)', () => {
  let reg: TestRegistry;
  let h: { home: string; cleanup(): void };
  let work: string;
  let tarball: string;

  beforeAll(async () => {
    tarball = debianMinbaseTarball();
    reg = await TestRegistry.start();
    h = freshHome('cake-own-envs-');
    work = mkdtempSync(join(tmpdir(), 'cake-own-envs-'));
    // the proot runs use the test store's provisioned proot (found the way cake finds its own)
    await provisionTestProot();
    linkProvisionedProot(join(resolvePaths({ CAKE_HOME: h.home }).cache, 'engine'));
  }, 600_000);

  afterAll(async () => {
    await reg?.stop();
    h?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('an imported tarball shows its headers\' owners at once; apt-get installs with maintainer-script owners; push carries them', async () => {
    const imp = await cake(h.home, ['import', tarball, '--name', 'imp']);
    expect(imp.code, imp.stderr).toBe(0);
    // right after the import, before any recording: the tar header said 0:42
    const shadow = await cake(h.home, ['exec', 'imp', '--', 'stat', '-c', '%U %G', '/etc/shadow']);
    expect(shadow.code, shadow.stderr).toBe(0);
    expect(shadow.stdout, shadow.stderr).toBe('root shadow');
    const env = JSON.parse(readFileSync(join(h.home, 'v1/envs/imp/env.json'), 'utf8')) as { resolved: { fakeroot?: { from?: string; debs: Array<{ name: string }> } } };
    expect(env.resolved.fakeroot?.from).toBe('debian bookworm');
    expect(env.resolved.fakeroot?.debs.map((d) => d.name).sort()).toEqual(['fakeroot', 'libc6', 'libfakeroot']);

    const inst = await cake(h.home, ['exec', 'imp', '--', 'sh', '-c', INSTALL]);
    expect(inst.stderr).not.toMatch(/setgroups|seteuid|Invalid argument|has died/);
    expect(inst.code, inst.stderr).toBe(0);
    const owners = await cake(h.home, ['exec', 'imp', '--', ...OWNERS]);
    expect(owners.stdout.trim().split('\n'), owners.stderr).toEqual(EXPECTED);
    // and as a user, the recorded owners are what `ls` shows (not the user's own uid everywhere)
    const asUser = await cake(h.home, ['exec', 'imp', '--user', 'nobody', '--', 'stat', '-c', '%U:%G', '/etc/shadow', '/var/log/nginx/access.log']);
    expect(asUser.stdout, asUser.stderr).toBe('root:shadow\nwww-data:adm');

    const push = await cake(h.home, ['push', 'imp', `docker://${reg.host}/own/imp:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const layout = join(work, 'layout');
    await execa('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/own/imp:v1`, `oci:${layout}:t`]);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    const listing = execFileSync('tar', ['-tvzf', join(layout, 'blobs/sha256', manifest.layers[0]!.digest.slice(7)), '--numeric-owner'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const line = (path: string): string => listing.split('\n').find((l) => l.endsWith(` ${path}`)) ?? `${path} missing`;
    expect(line('etc/shadow')).toMatch(/^-rw-r----- 0\/42 /);
    expect(line('var/log/nginx/access.log')).toMatch(/^-rw-r----- 33\/4 /);
    expect(line('usr/bin/crontab')).toMatch(/^-rwxr-sr-x 0\/\d+ /);
    expect(line('usr/bin/crontab')).not.toMatch(/ 0\/0 /);
  }, 900_000);

  it('a registry-pulled env installs packages on the default engine and on proot, each recording the owners', async () => {
    const base = await cake(h.home, ['import', tarball, '--name', 'base']);
    expect(base.code, base.stderr).toBe(0);
    const push = await cake(h.home, ['push', 'base', `docker://${reg.host}/own/debian:bookworm`]);
    expect(push.code, push.stderr).toBe(0);
    for (const engine of ['auto', 'proot']) {
      const name = `reg-${engine}`;
      const pull = await cake(h.home, ['pull', `docker://${reg.host}/own/debian:bookworm`, '--name', name]);
      expect(pull.code, pull.stderr).toBe(0);
      const inst = await cake(h.home, ['exec', name, '--engine', engine, '--', 'sh', '-c', engine === 'proot' ? INSTALL_PROOT : INSTALL]);
      expect(inst.code, `${engine}: ${inst.stderr}`).toBe(0);
      const owners = await cake(h.home, ['exec', name, '--engine', engine, '--', ...OWNERS]);
      expect(owners.stdout.trim().split('\n'), `${engine}: ${owners.stderr}`).toEqual(EXPECTED);
      // the table in env.json is what export writes
      const out = join(work, `${name}.tar.gz`);
      const exp = await cake(h.home, ['export', name, out]);
      expect(exp.code, exp.stderr).toBe(0);
      const listing = execFileSync('tar', ['-tvzf', out, '--numeric-owner'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(listing).toMatch(/-rw-r----- 33\/4 .* \.?\/?var\/log\/nginx\/access\.log\n/);
    }
  }, 900_000);

  it('a plain user gets the same: chown in an imported env is recorded', async () => {
    const user = freshHome('cake-own-envs-user-');
    try {
      execFileSync('chown', ['-R', 'nobody:nogroup', user.home]);
      writeFileSync(join(work, 'nobody.tar'), readFileSync(tarball));
      execFileSync('chown', ['nobody:nogroup', join(work, 'nobody.tar'), work]);
      const drop = (args: string[]) =>
        execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', 'env', `CAKE_HOME=${user.home}`, 'HOME=/nonexistent', 'NO_COLOR=1', join(import.meta.dirname, '../../../bin/cake'), ...args], { reject: false });
      const imp = await drop(['import', join(work, 'nobody.tar'), '--name', 'u']);
      expect(imp.exitCode, imp.stderr).toBe(0);
      const r = await drop(['exec', 'u', '--', 'sh', '-c', 'touch /srv/f && chown 33:4 /srv/f && chmod 640 /srv/f && stat -c "%u:%g %a" /srv/f /etc/shadow']);
      expect(r.stdout, r.stderr).toBe('33:4 640\n0:42 640');
      const again = await drop(['exec', 'u', '--', 'stat', '-c', '%U:%G', '/srv/f']);
      expect(again.stdout, again.stderr).toBe('www-data:adm');
    } finally {
      user.cleanup();
    }
  }, 600_000);
});
