/**
 * A killed run's leftovers never reach an output (issues 11.13 and 15.10): `cake exec` with a bind
 * onto a path the env does not have is killed with SIGKILL while the guest runs, which leaves its
 * run dir and the mount points cake created in the env. The next `cake export` and `cake push`
 * sweep them (src/run/run-dir.ts sweepRuns) before they read the env: the run dir is gone, and the
 * mount points are neither in the env nor in the tarball or the image's layer.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';
import { createBusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { removeTreeSync } from '../../../src/archive/remove-tree.js';

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

describe('a killed cake exec leaves nothing in export and push (built CLI)', () => {
  let work: string;
  let tarball: string;
  const homes: Array<{ cleanup(): void }> = [];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-leftover-'));
    const bb = createBusyboxRootfs(join(work, 'bb'));
    tarball = join(work, 'rootfs.tar');
    execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-cf', tarball, '.']);
    mkdirSync(join(work, 'shared'));
  });

  afterAll(() => {
    for (const h of homes) h.cleanup();
    if (work) removeTreeSync(work);
  });

  /** A fresh home with env `bb` in which a `cake exec --bind` was killed mid-run; returns the home. */
  async function killedRun(): Promise<string> {
    const fresh = freshHome('cake-leftover-');
    homes.push(fresh);
    const h = fresh.home;
    const pulled = await cake(h, ['pull', tarball, '--name', 'bb']);
    expect(pulled.code, pulled.stderr).toBe(0);
    const rootfs = join(h, 'v1/envs/bb/rootfs');
    expect(existsSync(join(rootfs, 'mnt'))).toBe(false);
    const child = spawn(CAKE, ['exec', 'bb', '--bind', `${join(work, 'shared')}:/mnt/shared`, '--', 'sh', '-c', 'echo ready; sleep 60'], {
      env: { ...process.env, CAKE_HOME: h, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<string | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the guest did not start: ${stderr}`)), 60_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('close', () => reject(new Error(`cake exec ended before the guest was ready: ${stderr}`)));
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // the leftovers are real: the run dir and the mount points cake made in the env
    expect(readdirSafe(join(h, 'cache/v1/engine/runs'))).toHaveLength(1);
    expect(existsSync(join(rootfs, 'mnt/shared'))).toBe(true);
    return h;
  }

  function assertSwept(h: string): void {
    expect(readdirSafe(join(h, 'cache/v1/engine/runs'))).toEqual([]);
    expect(existsSync(join(h, 'v1/envs/bb/rootfs/mnt'))).toBe(false);
  }

  it('cake export sweeps the killed run: no run dir, no mount point in the env or the tarball', async () => {
    const h = await killedRun();
    const out = join(h, 'bb.tar');
    const r = await cake(h, ['export', 'bb', out]);
    expect(r.code, r.stderr).toBe(0);
    assertSwept(h);
    const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n');
    expect(names.some((n) => /(^|\/)bin\/busybox$/.test(n))).toBe(true);
    expect(names.filter((n) => /^(\.\/)?mnt(\/|$)/.test(n))).toEqual([]);
  }, 180_000);

  it('cake push sweeps the killed run: no mount point in the layer', async () => {
    const h = await killedRun();
    const layout = join(h, 'layout');
    const r = await cake(h, ['push', 'bb', `oci:${layout}:v1`]);
    expect(r.code, r.stderr).toBe(0);
    assertSwept(h);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = (d: string): string => join(layout, 'blobs/sha256', d.replace(/^sha256:/, ''));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
    const names = execFileSync('tar', ['-tzf', blob(manifest.layers[0]!.digest)], { encoding: 'utf8' }).split('\n');
    expect(names.some((n) => /(^|\/)bin\/busybox$/.test(n))).toBe(true);
    expect(names.filter((n) => /^(\.\/)?mnt(\/|$)/.test(n))).toEqual([]);
  }, 180_000);
});
