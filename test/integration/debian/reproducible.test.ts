/**
 * Reproducible archive builds (issue 14 items 1-2): two cold `cake pull debian:bookworm` in two
 * fresh homes, one as root (umask 022, TZ=UTC) and one as a plain user (nobody, umask 077,
 * TZ=Asia/Tokyo), give the same tree: content, modes, owners and times; the same tree hash is
 * printed and recorded; `--expect-sha256` accepts it and refuses another; the user's
 * SOURCE_DATE_EPOCH clamps every time; a third build, from the first one's lock (`--locked`) in a
 * fresh home under the proot engine, gives the same tree (one build proves both).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EnvRecord } from '../../../src/store/env-record.js';
import { CAKE } from '../../helpers/cli.js';
import { firstDifference, treeRows } from '../../helpers/tree-diff.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function home(owner: number): string {
  const h = mkdtempSync(join(tmpdir(), 'cake-repro-'));
  chmodSync(h, 0o755);
  chownSync(h, owner, owner);
  return h;
}
const rootHome = home(0);
const userHome = home(65534);
const prootHome = home(65534);
/** Written by the first build (root), rebuilt by the proot one: one build proves both. */
const lockFile = join(tmpdir(), `cake-repro-${process.pid}.lock`);

/** The built CLI in `h` with the given umask and TZ, as root or (uid 65534) as nobody. */
function run(h: string, user: 'root' | 'nobody', umask: string, tz: string, args: string[], extra: Record<string, string> = {}): Run {
  const env = ['env', `CAKE_HOME=${h}`, `HOME=${h}`, 'NO_COLOR=1', `TZ=${tz}`, `PATH=${process.env.PATH ?? ''}`, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
  const inner = ['sh', '-c', `umask ${umask} && exec "$@"`, 'sh', ...env, CAKE, ...args];
  const argv = user === 'root' ? inner : ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...inner];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: '' } });
}

const record = (h: string, name: string): EnvRecord => JSON.parse(readFileSync(join(h, 'v1/envs', name, 'env.json'), 'utf8')) as EnvRecord;
const rows = (h: string, name: string) => treeRows(join(h, 'v1/envs', name, 'rootfs'), record(h, name).ownership);
const printedHash = (r: Run): string => /tree: sha256:([0-9a-f]{64})/.exec(r.stderr)?.[1] ?? '';

describe('reproducible bookworm builds', () => {
  afterAll(() => {
    rmSync(lockFile, { force: true });
    for (const h of [rootHome, userHome, prootHome]) {
      spawnSync('chmod', ['-R', 'u+rwX', h]);
      rmSync(h, { recursive: true, force: true });
    }
  });

  it('gives the same tree in two fresh homes: root/umask 022/UTC and nobody/umask 077/Tokyo', () => {
    const a = run(rootHome, 'root', '022', 'UTC', ['pull', 'debian:bookworm', '--name', 'b', '--lock', lockFile]);
    expect(a.status, a.stderr).toBe(0);
    const b = run(userHome, 'nobody', '077', 'Asia/Tokyo', ['pull', 'debian:bookworm', '--name', 'b']);
    expect(b.status, b.stderr).toBe(0);
    expect(firstDifference(rows(rootHome, 'b'), rows(userHome, 'b'))).toBeUndefined();
    const hash = printedHash(a);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(printedHash(b)).toBe(hash);
    expect(record(rootHome, 'b').treeSha256).toBe(hash);
    expect(record(userHome, 'b').treeSha256).toBe(hash);
    // what records the build's moment is gone; every time is at most the epoch (the newest Release Date)
    const rootfs = join(rootHome, 'v1/envs/b/rootfs');
    for (const f of ['var/log/dpkg.log', 'var/log/alternatives.log', 'var/cache/ldconfig/aux-cache']) expect(existsSync(join(rootfs, f)), f).toBe(false);
    const epoch = (record(rootHome, 'b').resolved as { archive: { sourceDateEpoch: number } }).archive.sourceDateEpoch;
    const dates = (record(rootHome, 'b').resolved as { archive: { suites: { date?: string }[] } }).archive.suites.map((s) => Date.parse(s.date ?? ''));
    expect(epoch).toBe(Math.floor(Math.max(...dates.filter(Number.isFinite)) / 1000));
    const late = [...rows(rootHome, 'b')].filter(([, r]) => r.mtime > epoch || (r.type === 'd' && r.mtime !== epoch));
    expect(late.map(([p]) => p)).toEqual([]);
  }, 900_000);

  it('rebuilds the lock (--locked) in a fresh home under the proot engine: the same tree; what cake writes after dpkg is root:root 0644, not a stale fakeroot record', () => {
    // a fresh file of cake's may get an inode the guest freed: faked's record of that inode once
    // made sources.list 0755 under userns (0644 under proot), so the two engines' hashes differed
    const p = run(prootHome, 'nobody', '077', 'Pacific/Chatham', ['pull', '--locked', lockFile, '--name', 'b'], { CAKE_ENGINE: 'proot' });
    expect(p.status, p.stderr).toBe(0);
    expect(firstDifference(rows(rootHome, 'b'), rows(prootHome, 'b'))).toBeUndefined();
    expect(printedHash(p)).toBe(record(rootHome, 'b').treeSha256);
    for (const h of [rootHome, prootHome]) {
      expect(rows(h, 'b').get('etc/apt/sources.list')).toMatchObject({ mode: '644', owner: '0:0' });
      expect(Object.keys(record(h, 'b').ownership)).not.toContain('etc/apt/sources.list');
    }
  }, 900_000);

  it('checks --expect-sha256: the printed hash passes, another installs nothing', () => {
    const hash = record(rootHome, 'b').treeSha256!;
    const ok = run(rootHome, 'root', '022', 'UTC', ['pull', 'debian:bookworm', '--name', 'b', '--expect-sha256', hash]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('b is up to date');
    const wrong = '0'.repeat(64);
    const bad = run(rootHome, 'root', '022', 'UTC', ['pull', 'debian:bookworm', '--name', 'c', '--expect-sha256', wrong]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain(`c: the tree hash is sha256:${hash}, not the expected sha256:${wrong}`);
    expect(bad.stderr).toMatch(/^hint: /m);
    expect(existsSync(join(rootHome, 'v1/envs/c'))).toBe(false);
    const typo = run(rootHome, 'root', '022', 'UTC', ['pull', 'debian:bookworm', '--name', 'c', '--expect-sha256', 'abc']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain('--expect-sha256 wants 64 hex digits');
  }, 600_000);

  it('the lock (--lock) names the InRelease digests, every .deb and the tree hash; --locked refuses other requests', () => {
    const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { source: string; suites: { suite: string; inReleaseSha256: string }[]; debs: { name: string; sha256: string }[]; treeSha256: string; sourceDateEpoch: number };
    const rec = record(rootHome, 'b');
    const archive = (rec.resolved as { archive: { suites: { suite: string; inReleaseSha256: string }[]; sourceDateEpoch: number } }).archive;
    expect(lock.source).toBe('debian:bookworm');
    expect(lock.suites.map((x) => [x.suite, x.inReleaseSha256])).toEqual(archive.suites.map((x) => [x.suite, x.inReleaseSha256]));
    expect(lock.debs.map((d) => d.sha256).sort()).toEqual((rec.resolved as { packages: { sha256: string }[] }).packages.map((d) => d.sha256).sort());
    expect(lock.treeSha256).toBe(rec.treeSha256);
    expect(lock.sourceDateEpoch).toBe(archive.sourceDateEpoch);
    expect(record(prootHome, 'b').treeSha256).toBe(lock.treeSha256);
    const mixed = run(prootHome, 'nobody', '022', 'UTC', ['pull', '--locked', lockFile, '--packages', 'curl']);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toContain('--packages cannot be combined with --locked');
    const other = run(prootHome, 'nobody', '022', 'UTC', ['pull', 'debian:trixie', '--locked', lockFile]);
    expect(other.status).toBe(2);
    expect(other.stderr).toContain(`${lockFile} locks debian:bookworm, not debian:trixie`);
  }, 120_000);

  it("clamps every time to the user's SOURCE_DATE_EPOCH", () => {
    const epoch = 1_750_000_000;
    const r = run(rootHome, 'root', '022', 'UTC', ['pull', 'debian:bookworm', '--name', 'e', '--variant', 'essential'], { SOURCE_DATE_EPOCH: String(epoch) });
    expect(r.status, r.stderr).toBe(0);
    const late = [...rows(rootHome, 'e')].filter(([, x]) => x.mtime > epoch);
    expect(late.map(([p]) => p)).toEqual([]);
    expect((record(rootHome, 'e').resolved as { archive: { sourceDateEpoch: number } }).archive.sourceDateEpoch).toBe(epoch);
    const bad = run(rootHome, 'root', '022', 'UTC', ['pull', 'debian:bookworm', '--name', 'f'], { SOURCE_DATE_EPOCH: 'yesterday' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('SOURCE_DATE_EPOCH="yesterday" is not a number');
  }, 600_000);
});
