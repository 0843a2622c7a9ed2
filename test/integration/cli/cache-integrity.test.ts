/**
 * Caches verify what they serve (issue 15 item 7): a step-cache snapshot altered by hand is not
 * served — the step is built again and the cook prints the true tree hash.
 */
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { busyboxTarball, removeHome } from '../cook/fixtures.js';

describe('cache integrity (built CLI)', () => {
  let work: string;
  const h = freshHome('cake-integrity-');

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-integrity-'));
    busyboxTarball(work);
    writeFileSync(join(work, 'one.yaml'), 'name: one\nfrom: ./busybox-rootfs.tar.gz\nsteps:\n  - run: echo one > /etc/one\n  - run: echo two > /etc/two\n');
  });
  afterAll(() => {
    removeHome(h.home);
    removeHome(work);
  });

  it('a step snapshot altered by hand is rebuilt, and the tree hash printed is the true one', async () => {
    const cold = await cake(h.home, ['cook', 'one.yaml'], { cwd: work });
    expect(cold.code, cold.stderr).toBe(0);
    const steps = join(h.home, 'v1/cook/steps');
    const tampered = readdirSync(steps).map((k) => join(steps, k, 'rootfs/etc/one')).filter((p) => existsSync(p));
    expect(tampered.length).toBeGreaterThan(0);
    // in place: the same inode, other bytes (every snapshot sharing the file sees it)
    for (const p of tampered) writeFileSync(p, 'EVIL\n');
    expect((await cake(h.home, ['rm', 'one'])).code).toBe(0);
    const again = await cake(h.home, ['cook', 'one.yaml'], { cwd: work });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('was changed after it was made; it is built again');
    expect(again.stderr).toMatch(/\[1\/2\] one\.yaml:\d+ steps\[0\]\.run: running/);
    expect(again.stdout).toBe(cold.stdout);
    expect(readFileSync(join(h.home, 'v1/envs/one/rootfs/etc/one'), 'utf8')).toBe('one\n');
    // and the rebuilt cache serves again without a word
    expect((await cake(h.home, ['rm', 'one'])).code).toBe(0);
    const warm = await cake(h.home, ['cook', 'one.yaml'], { cwd: work });
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stderr).not.toContain('built again');
    expect(warm.stderr).toMatch(/\[2\/2\] one\.yaml:\d+ steps\[1\]\.run: cached/);
    expect(warm.stdout).toBe(cold.stdout);
  });
});
