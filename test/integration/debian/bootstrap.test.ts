/**
 * A Debian bookworm minbase env bootstrapped from the real deb.debian.org, through the archive
 * source (pullFromArchive) into a store under test/.cache/bootstrap, so reruns download only the
 * InRelease files. Checks what a root install would give: a clean dpkg database, every package
 * installed, apt working inside, and the ownership table recording what dpkg and the maintainer
 * scripts chown'ed (under the guest's fakeroot). Then a second pull of the same inputs, restored
 * from the finished-tree cache, and what `cake exec` records when programs inside chown.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOwner, lookupOwner, type OwnershipTable } from '../../../src/model/ownership.js';
import { BUILD_DIR, runGuestScript } from '../../../src/debian/bootstrap-guest.js';
import { CakeError } from '../../../src/model/errors.js';
import { silentLogger } from '../../../src/model/logger.js';
import { foundKits } from '../../../src/kit/provider.js';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { cake } from '../../helpers/cli.js';
import type { Logger } from '../../../src/model/logger.js';
import { HttpClient } from '../../../src/net/http-client.js';
import { runInEnv } from '../../../src/run/engine.js';
import { defaultRunOptions } from '../../../src/model/run-options.js';
import { pullFromArchive, type ArchivePullDeps, type ArchiveSelection } from '../../../src/pull/archive.js';
import { BlobStore } from '../../../src/store/blobs.js';
import type { EnvRecord } from '../../../src/store/env-record.js';
import { EnvStore } from '../../../src/store/envs.js';
import { resolvePaths } from '../../../src/store/paths.js';
import { missing } from '../../helpers/tools.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const HOME = join(REPO, 'test/.cache/bootstrap');
const NAME = `bookworm-test-${process.pid}`;
/** The same inputs pulled again: restored from the tree cache. */
const NAME2 = `bookworm-again-${process.pid}`;

const archive: ArchiveSelection = {
  kind: 'archive',
  arch: 'x86_64',
  debianArch: 'amd64',
  keyring: 'debian',
  variant: 'minbase',
  components: ['main'],
  suites: [
    { mirror: 'http://deb.debian.org/debian', suite: 'bookworm' },
    { mirror: 'http://deb.debian.org/debian', suite: 'bookworm-updates' },
    { mirror: 'http://deb.debian.org/debian-security', suite: 'bookworm-security' },
  ],
};

describe('bootstrap of bookworm minbase from deb.debian.org', () => {
  const paths = resolvePaths({ CAKE_HOME: HOME });
  const blobs = new BlobStore(paths);
  const envs = new EnvStore(paths);
  const lines: string[] = [];
  const t0 = performance.now();
  const logger: Logger = {
    info: (m) => lines.push(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    debug: () => {},
    progress: () => ({ update() {}, stop() {} }),
  };
  let http: HttpClient | undefined;
  const deps: ArchivePullDeps = {
    paths,
    blobs,
    envs,
    http: async () => (http ??= new HttpClient({ logger })),
    logger,
    signal: new AbortController().signal,
    distrosDir: join(REPO, 'distros'),
    hostArch: process.arch,
    hostEnv: process.env,
  };
  let record: EnvRecord;
  let rootfs: string;
  const scratch = mkdtempSync(join(tmpdir(), 'cake-bootstrap-it-'));

  /** Runs argv in the env through the engine, as `cake exec` would; captures stdout and stderr together. */
  async function guest(argv: string[]): Promise<{ code: number; out: string }> {
    const file = join(scratch, 'out');
    const fd = openSync(file, 'w');
    try {
      const code = await runInEnv(
        { name: NAME, rootfs, arch: 'x86_64' },
        argv,
        defaultRunOptions({ isolated: true }),
        { logger, hostEnv: process.env, cacheDir: join(paths.cache, 'engine'), kits: foundKits, stdio: ['ignore', fd, fd] },
      );
      return { code, out: readFileSync(file, 'utf8') };
    } finally {
      closeSync(fd);
    }
  }

  beforeAll(async () => {
    blobs.init();
    // the first pull must really build: drop the trees earlier runs cached (and their blobs)
    const trees = join(paths.cache, 'trees');
    for (const f of (existsSync(trees) ? readdirSync(trees, { withFileTypes: true }) : []).filter((e) => e.name.endsWith('.json'))) {
      const sha = (JSON.parse(readFileSync(join(trees, f.name), 'utf8')) as { sha256?: string }).sha256;
      if (typeof sha === 'string' && /^[0-9a-f]{64}$/.test(sha)) blobs.remove(sha);
    }
    rmSync(trees, { recursive: true, force: true });
    const out = await pullFromArchive(deps, { name: NAME, source: { kind: 'distro', ref: 'debian:bookworm' }, archive, resolved: { distro: 'debian', release: 'bookworm' }, packages: ['less'] });
    record = out.record;
    rootfs = envs.rootfs(NAME);
    console.log(lines.join('\n'));
  }, 600_000);

  afterAll(async () => {
    if (envs.exists(NAME)) await envs.remove(NAME);
    if (envs.exists(NAME2)) await envs.remove(NAME2);
    rmSync(scratch, { recursive: true, force: true });
    await http?.close();
  });

  it('prints progress: resolution with the download size, unpack, install', () => {
    expect(lines.some((l) => /resolved \d+ packages (\(\+\d+ for cake's fakeroot kit\) )?\(\d+\.\d MiB to download\)/.test(l))).toBe(true);
    expect(lines.some((l) => /unpacking \d+ essential packages/.test(l))).toBe(true);
    expect(lines.some((l) => /installing the essential set/.test(l))).toBe(true);
    expect(lines.some((l) => /installing \d+ more packages/.test(l))).toBe(true);
  });

  it('records the archive state and every package in env.json, with the blobs gc must keep', () => {
    const r = record.resolved as {
      archive: { suites: Array<{ mirror: string; suite: string; inReleaseSha256: string }>; variant: string; packages: string[] };
      packages: Array<{ name: string; version: string; sha256: string }>;
      blobs: string[];
    };
    expect(r.archive.suites.map((s) => s.suite)).toEqual(['bookworm', 'bookworm-updates', 'bookworm-security']);
    for (const s of r.archive.suites) expect(s.inReleaseSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.archive.variant).toBe('minbase');
    expect(r.archive.packages).toEqual(['less']);
    const names = r.packages.map((p) => p.name);
    for (const n of ['base-files', 'dpkg', 'apt', 'libc6', 'less', 'usr-is-merged', 'debian-archive-keyring']) expect(names).toContain(n);
    expect(names).not.toContain('usrmerge');
    expect(r.packages.length).toBeGreaterThan(80);
    for (const p of r.packages) {
      expect(r.blobs).toContain(p.sha256);
      expect(blobs.has(p.sha256)).toBe(true);
    }
    expect(record.arch).toBe('x86_64');
    expect(envs.get(NAME).resolved).toEqual(record.resolved);
  });

  it('leaves a merged-/usr tree without the build-time files', () => {
    for (const d of ['bin', 'sbin', 'lib', 'lib64']) expect(readlinkSync(join(rootfs, d))).toBe(`usr/${d}`);
    expect(lstatSync(join(rootfs, '.cake-bootstrap'), { throwIfNoEntry: false })).toBeUndefined();
    expect(lstatSync(join(rootfs, 'usr/sbin/policy-rc.d'), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(rootfs, 'var/lib/dpkg/diversions'), 'utf8')).not.toContain('cake');
    expect(readFileSync(join(rootfs, 'usr/sbin/start-stop-daemon')).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(readFileSync(join(rootfs, 'usr/bin/ischroot')).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(readFileSync(join(rootfs, 'etc/apt/sources.list'), 'utf8')).toContain(
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main',
    );
  });

  it('records the ownership a root install has (from the guest fakeroot)', () => {
    const t = record.ownership;
    expect(getOwner(t, 'etc/shadow')).toEqual({ uid: 0, gid: 42, mode: 0o640 });
    expect(getOwner(t, 'etc/gshadow')).toEqual({ uid: 0, gid: 42, mode: 0o640 });
    expect(getOwner(t, 'usr/sbin/unix_chkpwd')).toEqual({ uid: 0, gid: 42, mode: 0o2755 });
    expect(getOwner(t, 'usr/bin/chage')).toMatchObject({ gid: 42, mode: 0o2755 });
    expect(getOwner(t, 'var/mail')).toEqual({ uid: 0, gid: 8, mode: 0o2775 });
    expect(getOwner(t, 'var/local')).toEqual({ uid: 0, gid: 50, mode: 0o2775 });
    expect(getOwner(t, 'var/log/btmp')).toMatchObject({ uid: 0, gid: 43 });
    // setuid root: root:root with the mode on disk, so no entry is needed
    expect(getOwner(t, 'usr/bin/passwd')).toBeUndefined();
    expect(lstatSync(join(rootfs, 'usr/bin/passwd')).mode & 0o7777).toBe(0o4755);
    expect(Object.keys(t).every((k) => !k.startsWith('.cake') && !k.startsWith('bin/'))).toBe(true);
  });

  // before any command runs in NAME (the engine leaves mount points, apt changes the tree)
  it('stores the finished tree, and restores it for the same inputs instead of building', async () => {
    const tree = record.resolved.tree as { key: string; sha256: string; reused: boolean };
    expect(tree.reused).toBe(false);
    expect(blobs.has(tree.sha256)).toBe(true);
    expect(record.resolved.blobs).toContain(tree.sha256);
    const kit = (record.resolved.fakeroot as { debs: Array<{ name: string; sha256: string }> }).debs;
    expect(kit.map((d) => d.name)).toEqual(['libc6', 'libfakeroot', 'fakeroot']);
    for (const d of kit) expect(record.resolved.blobs).toContain(d.sha256);

    lines.length = 0;
    const started = performance.now();
    const again = await pullFromArchive(deps, { name: NAME2, source: { kind: 'distro', ref: 'debian:bookworm' }, archive, resolved: { distro: 'debian', release: 'bookworm' }, packages: ['less'] });
    console.log(`warm pull: ${((performance.now() - started) / 1000).toFixed(1)} s\n${lines.join('\n')}`);
    expect(lines.some((l) => /restoring the finished tree of an identical build/.test(l))).toBe(true);
    expect(lines.some((l) => /unpacking|installing/.test(l))).toBe(false);
    const r2 = again.record.resolved as { tree: typeof tree; packages: unknown; blobs: string[] };
    expect(r2.tree).toEqual({ ...tree, reused: true });
    expect(r2.packages).toEqual(record.resolved.packages);
    expect(r2.blobs).toEqual(record.resolved.blobs);
    expect(listing(envs.rootfs(NAME2), again.record.ownership)).toEqual(listing(rootfs, record.ownership));
  }, 300_000);

  it('has a clean dpkg database: audit silent, every package ii, the requested ones installed', async () => {
    const audit = await guest(['dpkg', '--audit']);
    expect(audit).toEqual({ code: 0, out: '' });
    const list = await guest(['dpkg-query', '-W', '-f', '${db:Status-Abbrev}|${Package}\n']);
    expect(list.code).toBe(0);
    const rows = list.out.trim().split('\n');
    expect(rows.length).toBe((record.resolved as { packages: unknown[] }).packages.length);
    expect(rows.filter((r) => !r.startsWith('ii |'))).toEqual([]);
    const less = await guest(['dpkg', '-s', 'less', 'apt']);
    expect(less.code).toBe(0);
    expect(less.out).toContain('Package: less\nStatus: install ok installed');
  });

  it('runs apt-get update and installs a package inside, through the engine', async () => {
    const r = await guest(['sh', '-c', 'apt-get update -q && apt-get install -y -q --no-install-recommends hello && hello']);
    expect(r.out).toContain('Hello, world!');
    expect(r.code).toBe(0);
  }, 180_000);

  it('keeps an env built from the same request (idempotent pull)', async () => {
    const again = await pullFromArchive(deps, { name: NAME, source: { kind: 'distro', ref: 'debian:bookworm' }, archive, resolved: { distro: 'debian', release: 'bookworm' }, packages: ['less'] });
    expect(again.upToDate).toBe(true);
    expect(again.record.created).toBe(record.created);
  });

  it('records what programs inside chown, chgrp and chmod (cake exec), and export carries it', async () => {
    const r = await cake(HOME, ['exec', NAME2, '--', 'sh', '-c', 'groupadd -r testgrp && install -d -o root -g testgrp -m 2770 /var/lib/testdir && echo box > /etc/hostname && chown nobody /etc/hostname && stat -c %U:%G /etc/shadow']);
    expect(r).toMatchObject({ code: 0, stdout: 'root:shadow' });
    const gid = groupId(envs.rootfs(NAME2), 'testgrp');
    const t = envs.get(NAME2).ownership;
    expect(getOwner(t, 'var/lib/testdir')).toEqual({ uid: 0, gid, mode: 0o2770 });
    expect(getOwner(t, 'etc/hostname')).toEqual({ uid: 65534, gid: 0, mode: 0o644 });
    expect(getOwner(t, 'etc/shadow')).toEqual({ uid: 0, gid: 42, mode: 0o640 });
    const tar = join(scratch, 'export.tar');
    expect((await cake(HOME, ['export', NAME2, tar])).code).toBe(0);
    const listed = execFileSync('tar', ['-tvf', tar, '--numeric-owner']).toString().split('\n');
    expect(listed.find((l) => / var\/lib\/testdir\/$/.test(l))).toMatch(new RegExp(`^drwxrws--- 0/${gid} `));
    expect(listed.find((l) => / etc\/hostname$/.test(l))).toMatch(/^-rw-r--r-- 65534\/0 /);
    expect(listed.find((l) => / etc\/shadow$/.test(l))).toMatch(/^-rw-r----- 0\/42 /);
  }, 60_000);

  it("installs a package whose maintainer script chowns to the system group it creates", async () => {
    const r = await cake(HOME, ['exec', NAME2, '--', 'sh', '-c', 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends ssl-cert 2>&1']);
    expect(r.stdout).not.toMatch(/chown .* failed|Errors were encountered/);
    expect(r.code).toBe(0);
    const gid = groupId(envs.rootfs(NAME2), 'ssl-cert');
    const t = envs.get(NAME2).ownership;
    expect(getOwner(t, 'etc/ssl/private')).toEqual({ uid: 0, gid, mode: 0o710 });
    expect(getOwner(t, 'etc/ssl/private/ssl-cert-snakeoil.key')).toEqual({ uid: 0, gid, mode: 0o640 });
    expect(getOwner(t, 'var/log/apt/term.log')).toMatchObject({ uid: 0, gid: 4 });
  }, 180_000);

  it('without the recorder (CAKE_NO_FAKEROOT=1) a chown to another user fails in a user namespace', async (ctx) => {
    const r = await cake(HOME, ['exec', '--engine', 'userns', NAME2, '--', 'chown', 'daemon', '/etc/hostname'], { env: { CAKE_NO_FAKEROOT: '1' } });
    if (/self-check/.test(r.stderr)) ctx.skip();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Invalid argument/);
    expect(getOwner(envs.get(NAME2).ownership, 'etc/hostname')).toEqual({ uid: 65534, gid: 0, mode: 0o644 });
  });
});

/** Every entry's path, type, real owner and mode, size and link target (what export writes, but mtimes). */
function listing(root: string, table: OwnershipTable): string[] {
  const out = execFileSync('find', ['.', '-mindepth', '1', '-printf', '%P\t%y\t%m\t%s\t%l\n'], { cwd: root, maxBuffer: 64 << 20 }).toString().trim().split('\n');
  return out
    .map((l) => {
      const [p, type, mode, size, target] = l.split('\t') as [string, string, string, string, string];
      const own = lookupOwner(table, p, parseInt(mode, 8));
      return `${p} ${type} ${own.uid}:${own.gid} ${own.mode.toString(8)} ${type === 'd' ? '' : size} ${target}`;
    })
    .sort();
}

function groupId(root: string, name: string): number {
  const line = readFileSync(join(root, 'etc/group'), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`no group ${name}`);
  return Number(line.split(':')[2]);
}

describe.skipIf(missing('busybox-static', haveBusybox()))('guest scripts of a bootstrap', () => {
  it('collect the output in the log and turn a failure into an engine error quoting it', async () => {
    const fs = createBusyboxRootfs();
    const log = join(fs.root, '..', 'bootstrap.log');
    try {
      mkdirSync(join(fs.root, BUILD_DIR));
      const ctx = {
        env: { name: 'bb', rootfs: fs.root },
        engine: 'auto' as const,
        engineDeps: { logger: silentLogger, hostEnv: process.env, cacheDir: join(resolvePaths({ CAKE_HOME: HOME }).cache, 'engine') },
        logFile: log,
      };
      await runGuestScript(ctx, 'first step', 'echo "frontend is $DEBIAN_FRONTEND"\n', false);
      let err: unknown;
      try {
        await runGuestScript(ctx, 'second step', 'echo "dpkg: error processing package x (--configure):" >&2\necho trailing noise\nexit 3\n', false);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CakeError);
      expect((err as CakeError).code).toBe('engine');
      expect((err as CakeError).message).toBe('second step failed in the env (exit 3): dpkg: error processing package x (--configure):');
      expect((err as CakeError).hint).toContain(log);
      const text = readFileSync(log, 'utf8');
      expect(text).toContain('### cake: first step\nfrontend is noninteractive\n');
      expect(text).toContain('trailing noise');
    } finally {
      fs.cleanup();
      rmSync(log, { force: true });
    }
  });
});
