/**
 * An expired Release (issue 17 item 2) against the real deb.debian.org: this mirror's sid
 * InRelease is past its Valid-Until (2026-11-06 when this was written). `cake pull debian:sid` refuses
 * in one line; a recipe's `from: { allow_expired: true }` and `cake pull --allow-expired` build it
 * with one warning naming the date (signatures are still verified: the local-archive case in
 * archive.test.ts). Where the mirror's sid is fresh, the same builds must print no warning.
 * The request names only the virtual package awk (issue 17 item 4): one line names the provider
 * picked and the others. Essential variant (56 packages); the pull reuses the cook's build.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';

const MIRROR = 'http://deb.debian.org/debian/';
const home = freshHome('cake-expired-');
const dir = mkdtempSync(join(tmpdir(), 'cake-expired-work-'));

describe('debian:sid with an expired InRelease', () => {
  let validUntil: Date;
  let expired: boolean;
  beforeAll(async () => {
    const text = await (await fetch(`${MIRROR}dists/sid/InRelease`)).text();
    const m = /^Valid-Until: (.+)$/m.exec(text);
    expect(m, 'sid InRelease has a Valid-Until').not.toBeNull();
    validUntil = new Date((m as RegExpExecArray)[1] as string);
    expired = validUntil.getTime() < Date.now();
  }, 60_000);
  afterAll(() => {
    home.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const warning = (): string => `warning: InRelease of sid at ${MIRROR} expired on ${validUntil.toISOString()} (Valid-Until); using it anyway (--allow-expired: signatures are still verified)`;
  const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('Valid-Until'));

  it('refuses by default in one line naming the date, with --allow-expired in the hint', async () => {
    const r = await cake(home.home, ['pull', 'debian:sid', '--variant', 'essential', '--name', 'refused']);
    if (!expired) {
      // a fresh mirror: nothing to refuse (the build is the next test's)
      expect(r.code, r.stderr).toBe(0);
      return;
    }
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('cake: ') || l.startsWith('hint: '));
    expect(lines).toEqual([`cake: InRelease of sid at ${MIRROR}: expired on ${validUntil.toISOString()} (Valid-Until)`, expect.stringMatching(/^hint: .*--allow-expired \(signatures are still verified\)$/)]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect((await cake(home.home, ['ls'])).stdout).not.toContain('refused');
  }, 120_000);

  it("builds from a recipe's from: { allow_expired: true } and with pull --allow-expired, one warning each", async () => {
    writeFileSync(join(dir, 'sid.yaml'), 'name: sidawk\nfrom:\n  source: debian:sid\n  variant: essential\n  packages: [awk]\n  allow_expired: true\nsteps:\n  - run: awk \'BEGIN { print 6 * 7 }\' > /answer\n');
    const c = await cake(home.home, ['cook', 'sid.yaml'], { cwd: dir });
    expect(c.code, c.stderr.slice(-2000)).toBe(0);
    expect(warnings(c.stderr)).toEqual(expired ? [warning()] : []);
    // the request names only a virtual package: which provider, and the others, in one line
    const notes = c.stderr.split('\n').filter((l) => l.includes('virtual package'));
    expect(notes).toEqual([expect.stringMatching(/^awk is a virtual package: installing mawk; other providers: (\S+, )*gawk(, \S+)* \(name one to choose it\)$/)]);
    expect((await cake(home.home, ['exec', 'sidawk', '--', 'cat', '/answer'])).stdout).toBe('42');

    const p = await cake(home.home, ['pull', 'debian:sid', '--allow-expired', '--variant', 'essential', '--packages', 'awk', '--name', 'sid']);
    expect(p.code, p.stderr.slice(-2000)).toBe(0);
    expect(p.stderr).toContain('restoring the finished tree of an identical build'); // the cook's: no second dpkg run
    expect(warnings(p.stderr)).toEqual(expired ? [warning()] : []);
    const awk = await cake(home.home, ['exec', 'sid', '--', 'sh', '-c', 'readlink -f "$(command -v awk)"']);
    expect(awk.stdout.trim()).toBe('/usr/bin/mawk');
  }, 600_000);
});
