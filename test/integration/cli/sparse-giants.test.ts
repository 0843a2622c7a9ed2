/**
 * Sparse giants in an env, through the built CLI (issue 15 items 4 and the sparse copies): a cook
 * from an env holding a sparse file copies it (into the step cache, the working tree, the cooked
 * env) with its holes kept, so an env holding a file larger than the free space cooks without
 * ENOSPC; `cake bake` interrupted while it hashes a 1 TiB sparse file exits 130 within about a
 * second and leaves nothing in CAKE_HOME or beside the output.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';
import { fakeBzImage } from '../../helpers/fake-kernel.js';
import { busyboxTarball } from '../cook/fixtures.js';

const GiB = 2 ** 30;

/** Every regular file under `dir` named `name`, with its size and allocated bytes. */
function copiesOf(dir: string, name: string, out: Array<{ path: string; size: number; disk: number }> = []): Array<{ path: string; size: number; disk: number }> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) copiesOf(p, name, out);
    else if (e.isFile() && e.name === name) {
      const st = statSync(p);
      out.push({ path: p, size: st.size, disk: st.blocks * 512 });
    }
  }
  return out;
}

/** What a finished or interrupted command must not leave in CAKE_HOME. */
function leftovers(home: string): string[] {
  const out: string[] = [];
  const ls = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);
  for (const e of ls(join(home, 'v1/envs'))) if (e.startsWith('.') || !existsSync(join(home, 'v1/envs', e, 'env.json'))) out.push(`envs/${e}`);
  for (const e of ls(join(home, 'v1/locks'))) if (e.endsWith('.lock') || e.includes('cake-tmp')) out.push(`locks/${e}`);
  for (const e of ls(join(home, 'v1/store/tmp'))) if (!/^download-.*\.part$/.test(e)) out.push(`tmp/${e}`);
  for (const e of ls(join(home, 'cache/v1/bake/kernels'))) if (e.includes('.tmp-')) out.push(`kernels/${e}`);
  return out;
}


describe('sparse giants in an env (built CLI)', () => {
  let work: string;
  let tarball: string;
  const homes: Array<{ home: string; cleanup(): void }> = [];
  const home = (): string => {
    const h = freshHome('cake-sparse-');
    homes.push(h);
    return h.home;
  };
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-sparse-'));
    tarball = busyboxTarball(work);
  });
  afterAll(() => {
    for (const h of homes) h.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('a cook from an env with a sparse file keeps it sparse in the cache and in the cooked env', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'base'])).code).toBe(0);
    // 1 GiB with 5 bytes of data in the middle (a bigger one behaves the same, and only takes
    // longer to hash: the tree hash reads holes as zeros); test/unit/archive/copy-file.test.ts
    // copies a 200 GiB one
    const giant = join(h, 'v1/envs/base/rootfs/giant');
    writeFileSync(giant, '');
    truncateSync(giant, GiB);
    const fd = openSync(giant, 'r+');
    writeSync(fd, 'hello', GiB / 2);
    closeSync(fd);
    writeFileSync(join(work, 'r.yaml'), 'name: cooked\nfrom: env:base\nsteps:\n  - run: echo x > /etc/x\n');
    const r = await cake(h, ['cook', join(work, 'r.yaml')], { timeout: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const copies = copiesOf(h, 'giant').filter((c) => !c.path.includes('/envs/base/'));
    // the base copied into the cache, the step's snapshot (hard links to it or a copy) and the env
    expect(copies.length).toBeGreaterThanOrEqual(2);
    expect(copies.some((c) => c.path.includes('/envs/cooked/'))).toBe(true);
    for (const c of copies) {
      expect(c.size, c.path).toBe(GiB);
      expect(c.disk, `${c.path} takes ${c.disk} bytes on disk`).toBeLessThan(1 << 20);
    }
    const ex = await cake(h, ['exec', 'cooked', '--', 'sh', '-c', `dd if=/giant bs=1 skip=${GiB / 2} count=5 2>/dev/null; cat /etc/x`]);
    expect(ex.stdout).toBe('hellox');
    // a clone is the same copy
    expect((await cake(h, ['clone', 'cooked', 'twin'])).code).toBe(0);
    const twin = statSync(join(h, 'v1/envs/twin/rootfs/giant'));
    expect(twin.blocks * 512).toBeLessThan(1 << 20);
    expect(leftovers(h)).toEqual([]);
  }, 400_000);

  it('SIGINT to cake bake while it hashes a 1 TiB sparse file: 130 within about a second, nothing left', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'big'])).code).toBe(0);
    const giant = join(h, 'v1/envs/big/rootfs/giant');
    writeFileSync(giant, '');
    truncateSync(giant, 2 ** 40);
    fakeBzImage(join(work, 'bzImage'));
    const out = join(work, 'out');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    const child = spawn(CAKE, ['bake', 'big', '-o', join(out, 'big.img'), '--kernel', join(work, 'bzImage')], { env: { ...process.env, CAKE_HOME: h, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let hashing: () => void = () => {};
    const seen = new Promise<void>((resolve) => (hashing = resolve));
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('hashing /giant')) hashing();
    });
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await Promise.race([seen, exit]);
    expect(err).toContain('hashing /giant (1024.0 GiB): Ctrl-C stops');
    await new Promise((r) => setTimeout(r, 500)); // well inside the hash
    const t0 = performance.now();
    child.kill('SIGINT');
    const code = await exit;
    const ms = performance.now() - t0;
    expect(code, err).toBe(130);
    expect(err.trim().split('\n').at(-1)).toBe('cake: interrupted');
    expect(ms, `exit took ${Math.round(ms)} ms`).toBeLessThan(1500);
    expect(readdirSync(out)).toEqual([]);
    expect(leftovers(h)).toEqual([]);
  }, 600_000);
});
