/**
 * Ubuntu as a first-class archive distro: noble minbase built by the CLI from the real
 * archive.ubuntu.com (default engine, fresh CAKE_HOME) as root and as a plain user (nobody),
 * then apt working inside; `ubuntu:lts` read from the archive's Release files.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';

const home = freshHome('cake-ubuntu-');
const plain = mkdtempSync(join(tmpdir(), 'cake-ubuntu-nobody-'));
chmodSync(plain, 0o755);
chownSync(plain, 65534, 65534);

/** The built CLI as nobody, with its own fresh home. */
function asNobody(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', `CAKE_HOME=${plain}`, `HOME=${plain}`, 'NO_COLOR=1', `PATH=${process.env.PATH ?? ''}`, CAKE, ...args], { encoding: 'utf8' });
}

describe('Ubuntu noble from archive.ubuntu.com', () => {
  afterAll(() => {
    home.cleanup();
    spawnSync('chmod', ['-R', 'u+rwX', plain]);
    rmSync(plain, { recursive: true, force: true });
  });

  it('builds noble minbase as root, and apt works inside', async () => {
    const r = await cake(home.home, ['pull', 'ubuntu:noble', '--name', 'noble']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('building noble from http://archive.ubuntu.com/ubuntu (noble, noble-updates, noble-security; minbase)');
    const rec = JSON.parse(readFileSync(join(home.home, 'v1/envs/noble/env.json'), 'utf8')) as { resolved: { release: string; packages: { name: string }[] } };
    expect(rec.resolved.release).toBe('noble');
    expect(rec.resolved.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['apt', 'base-files', 'dpkg', 'libc6', 'gpgv']));
    const os = await cake(home.home, ['exec', 'noble', '--', 'cat', '/etc/os-release']);
    expect(os.stdout).toContain('VERSION_ID="24.04"');
    const apt = await cake(home.home, ['exec', 'noble', '--', 'sh', '-c', 'apt-get update -q && apt-get install -y -q --no-install-recommends hello && hello']);
    expect(apt.stdout + apt.stderr).toContain('Hello, world!');
    expect(apt.code, apt.stderr).toBe(0);
    const audit = await cake(home.home, ['exec', 'noble', '--', 'dpkg', '--audit']);
    expect(audit).toMatchObject({ code: 0, stdout: '' });
  }, 600_000);

  it('builds noble minbase as a plain user (nobody), and apt works inside', () => {
    const r = asNobody('pull', 'ubuntu:noble', '--name', 'noble');
    expect(r.status, r.stderr).toBe(0);
    const apt = asNobody('exec', 'noble', '--', 'sh', '-c', 'apt-get update -q && apt-get install -y -q --no-install-recommends hello && hello && stat -c %U:%G /usr/bin/hello');
    expect(apt.stdout).toContain('Hello, world!');
    expect(apt.stdout).toContain('root:root');
    expect(apt.status, apt.stderr).toBe(0);
  }, 600_000);

  it('reads ubuntu:lts from the archive: the newest YY.04 (even YY) it serves', async () => {
    const r = await cake(home.home, ['pull', 'ubuntu:lts', '--variant', 'essential', '--name', 'lts']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ubuntu:lts is resolute \(26\.04[^)]*, the newest LTS the archive serves\)/);
    const os = await cake(home.home, ['exec', 'lts', '--', 'cat', '/etc/os-release']);
    expect(os.stdout).toContain('VERSION_ID="26.04"');
  }, 600_000);
});
