/**
 * apt's target-release form through the built CLI, against the real deb.debian.org:
 * `--packages NAME/bookworm-backports` adds that suite (NotAutomatic: apt installs from it only
 * when asked) and takes its version; `NAME/bookworm-updates` finds a version that suite lists
 * even when bookworm lists the same one (a point release's); a package a suite does not have is
 * a one-line error naming the suites that do. Minbase plus two small packages.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';

const home = freshHome('cake-target-release-');

describe('NAME/RELEASE requests (apt -t) from deb.debian.org', () => {
  afterAll(() => home.cleanup());

  it('installs a backports version and a bookworm-updates one into bookworm minbase', async () => {
    // libwayland-egl-backend-dev: no dependencies, 4 KiB, 1.21 in bookworm, 1.23~bpo12 in backports;
    // ca-certificates: listed in bookworm-updates (and in bookworm, same version, since the last point release)
    const r = await cake(home.home, ['pull', 'debian:bookworm', '--name', 'bp', '--packages', 'libwayland-egl-backend-dev/bookworm-backports,ca-certificates/bookworm-updates']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('minbase + libwayland-egl-backend-dev/bookworm-backports ca-certificates/bookworm-updates');
    const q = await cake(home.home, ['exec', 'bp', '--', 'dpkg-query', '-W', '-f', '${Package} ${Version}\\n', 'libwayland-egl-backend-dev', 'ca-certificates']);
    expect(q.code, q.stderr).toBe(0);
    const versions = new Map(q.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    expect(versions.get('libwayland-egl-backend-dev')).toMatch(/~bpo12\+\d+$/);
    expect(versions.get('ca-certificates')).toMatch(/^\d{8}/);
    const rec = JSON.parse(readFileSync(join(home.home, 'v1/envs/bp/env.json'), 'utf8')) as { resolved: { packages: { name: string; version: string }[] } };
    expect(rec.resolved.packages.find((p) => p.name === 'libwayland-egl-backend-dev')?.version).toBe(versions.get('libwayland-egl-backend-dev'));
    // a consistent dpkg database
    const audit = await cake(home.home, ['exec', 'bp', '--', 'dpkg', '--audit']);
    expect(audit).toMatchObject({ code: 0, stdout: '' });
  }, 600_000);

  it('refuses a package the named suite does not have, in one line, naming the suites that do', async () => {
    const r = await cake(home.home, ['pull', 'debian:bookworm', '--name', 'nope', '--packages', 'hello/bookworm-backports']);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('cake: ') || l.startsWith('hint: '));
    expect(lines[0]).toBe('cake: hello/bookworm-backports: hello is not in bookworm-backports');
    expect(lines[1]).toMatch(/^hint: hello is in bookworm \(/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const ls = await cake(home.home, ['ls']);
    expect(ls.stdout).not.toContain('nope');
  }, 300_000);
});
