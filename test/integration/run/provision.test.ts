/**
 * The proot cake provisions from the real deb.debian.org: sid's proot with its libtalloc2 and
 * libc6, pinned by sha256, unpacked with the safe extractor and started through sid's own ld.so.
 * The .debs and the tree are kept in test/.cache/proot-store, so warm runs download nothing (the
 * index test and the fallback test read sid's signed index, kept there too).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { machine, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveClient, toPackageIndex } from '../../../src/debian/archive-client.js';
import type { Logger } from '../../../src/model/logger.js';
import { silentLogger } from '../../../src/model/logger.js';
import { chooseEngine } from '../../../src/run/engine.js';
import { archiveKits } from '../../../src/kit/provider.js';
import { PROOT_PINS, provisionArch } from '../../../src/kit/proot-pins.js';
import { findProvisionedProot } from '../../../src/kit/proot-provisioned.js';
import { provisionProot } from '../../../src/kit/proot-provision.js';
import { createBusyboxRootfs, haveBusybox, type BusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { cake, freshHome } from '../../helpers/cli.js';
import { linkProvisionedProot, provisionDeps, testStore } from '../../helpers/provisioned-proot.js';
import { buildRunner } from './harness.js';
import { missing } from '../../helpers/tools.js';

const arch = provisionArch(machine());
const pins = arch ? PROOT_PINS[arch] : undefined;

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    debug: () => {},
    progress: () => ({ update() {}, stop() {} }),
  };
}

/** Host program `prog` and its shared libraries (from ldd), copied into `root` at the same paths. */
function copyWithLibraries(root: string, prog: string, guestPath: string): void {
  const put = (src: string, dst: string): void => {
    mkdirSync(join(root, dirname(dst)), { recursive: true });
    copyFileSync(realpathSync(src), join(root, dst));
    execFileSync('chmod', ['0755', join(root, dst)]);
  };
  put(prog, guestPath);
  for (const m of execFileSync('ldd', [prog], { encoding: 'utf8' }).matchAll(/(\/\S+)\s+\(0x/g)) put(m[1]!, m[1]!);
}

describe.skipIf(arch === undefined)('a proot provisioned from the Debian archive', () => {
  const deps = provisionDeps();
  const scratch = mkdtempSync(join(tmpdir(), 'cake-prov-it-'));
  afterAll(async () => {
    await deps.close();
    execFileSync('chmod', ['-R', 'u+rwX', scratch]);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('is fetched (verified) into the store, unpacked with its loaders and launcher, and found again offline', async () => {
    const log = recorder();
    const p = await provisionProot({ ...deps, logger: log, cacheDir: deps.engineCache });
    expect(p.version).toBe(pins!.debs[0]!.version);
    expect(p.debs.map((d) => d.sha256)).toEqual(pins!.debs.map((d) => d.sha256));
    for (const d of pins!.debs) expect(deps.blobs.has(d.sha256)).toBe(true);
    expect(readFileSync(p.launcher, 'utf8')).toMatch(/^#!\/bin\/sh\n[^]*exec '\S+\/ld-linux-[^']+' --inhibit-cache --library-path '[^']+' '\S+\/usr\/bin\/proot' "\$@"\n$/);
    expect(statSync(p.launcher).mode & 0o111).not.toBe(0);
    expect(Object.keys(p.loaderEnv).sort()).toEqual(['PROOT_LOADER', 'PROOT_LOADER_32']);
    expect(execFileSync('file', ['-b', p.loaderEnv.PROOT_LOADER!], { encoding: 'utf8' })).toMatch(/statically linked/);
    const help = execFileSync(p.launcher, ['--help'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(help).toContain('--kill-on-exit');
    // Warm: nothing printed, same directory; and discovery needs no network.
    const again = recorder();
    expect((await provisionProot({ ...deps, logger: again, cacheDir: deps.engineCache })).dir).toBe(p.dir);
    expect(again.lines).toEqual([]);
    expect((await findProvisionedProot(deps.engineCache, machine()))?.dir).toBe(p.dir);
  });

  it("pins what sid's signed index lists (a pin sid has moved past is reported, not failed)", async () => {
    const { paths, blobs } = testStore();
    const http = await deps.http();
    const client = new ArchiveClient(
      { http, blobs, paths, logger: silentLogger },
      { mirror: pins!.mirror, suites: [pins!.suite], components: ['main'], arch: pins!.arch, keyring: 'debian', checkValidUntil: false },
    );
    const indices = await client.loadIndices();
    expect(indices.releases[0]?.signers.length).toBeGreaterThan(0);
    const index = toPackageIndex(indices);
    for (const d of pins!.debs) {
      const rec = index.byName(d.name).find((r) => r.version === d.version && r.arch === pins!.arch);
      if (rec === undefined) {
        console.log(`note: ${d.name} ${d.version} is no longer in ${pins!.suite} (newest: ${index.candidate(d.name, pins!.arch)?.version}); cake falls back to the index`);
        continue;
      }
      expect({ filename: rec.filename, sha256: rec.sha256, size: rec.size }).toEqual({ filename: d.filename, sha256: d.sha256, size: d.size });
    }
  });

  it("falls back to the newest proot >= 5.4 of sid's signed index when a pinned pool file is gone, and says so", async () => {
    const log = recorder();
    const gone = { ...pins!, debs: [{ ...pins!.debs[0]!, filename: 'pool/main/p/proot/proot_5.4.0-0cake-gone_amd64.deb', sha256: 'f'.repeat(64) }, ...pins!.debs.slice(1)] };
    const p = await provisionProot({ ...deps, logger: log, cacheDir: join(scratch, 'fallback'), pins: gone });
    expect(log.lines[0]).toBe(`info: provisioning proot ${pins!.debs[0]!.version.replace(/-[^-]*$/, '')} from the Debian archive (once)`);
    expect(log.lines.some((l) => /^warn: the pinned proot \S+ is gone from .*404.*using the newest proot >= 5\.4 of sid instead$/.test(l))).toBe(true);
    expect(log.lines.some((l) => l.startsWith("warn: reading sid's index, accepting a Release past its Valid-Until"))).toBe(true);
    expect(p.debs.map((d) => d.name)).toEqual(['proot', 'libtalloc2', 'libc6']);
    expect(p.source).toBe('resolved');
    expect(execFileSync(p.launcher, ['--help'], { encoding: 'utf8' })).toContain('--kill-on-exit');
  });

  it('is provisioned automatically by --engine proot when the system proot fails, printing one line once', async () => {
    const cacheDir = join(scratch, 'auto');
    const log = recorder();
    const kits = archiveKits({ http: deps.http, blobs: deps.blobs, paths: deps.paths });
    const c = await chooseEngine('proot', { logger: log, hostEnv: process.env, cacheDir, kits });
    expect(c.binary).toBe(join(cacheDir, 'proot', realpathSync(dirname(c.binary)).split('/').pop()!, 'proot'));
    expect(c.checks.every((x) => x.ok)).toBe(true);
    const system = existsSync('/usr/bin/proot') ? await chooseEngine('proot', { logger: silentLogger, hostEnv: { PATH: '/usr/bin:/bin' }, cacheDir: join(scratch, 'system-only') }).catch((e: Error) => e) : undefined;
    if (system instanceof Error) {
      expect(log.lines).toEqual([`info: provisioning proot ${pins!.debs[0]!.version.replace(/-[^-]*$/, '')} from the Debian archive (once)`]);
      expect(c.reason).toMatch(/^system proot \/usr\/bin\/proot fails the self-check \(stat shows host files \(statx not translated\)\); provisioned proot \S+ passes the self-check/);
    }
    const again = recorder();
    const c2 = await chooseEngine('proot', { logger: again, hostEnv: process.env, cacheDir, kits });
    expect(c2.binary).toBe(c.binary);
    expect(again.lines).toEqual([]);
  });
});

describe.skipIf(arch === undefined || process.getuid?.() !== 0 || missing('busybox-static', haveBusybox()))('on a host whose /tmp is noexec', () => {
  let rootfs: BusyboxRootfs;
  let runner: string;
  let runnerDir: string;
  const work = mkdtempSync('/var/tmp/cake-prov-noexec-');
  beforeAll(async () => {
    const deps = provisionDeps();
    await provisionProot({ ...deps, logger: silentLogger, cacheDir: deps.engineCache });
    await deps.close();
    linkProvisionedProot(join(work, 'cache'));
    rootfs = createBusyboxRootfs(join(work, 'rootfs'));
    ({ runner, outDir: runnerDir } = buildRunner());
  });
  afterAll(() => {
    rootfs?.cleanup();
    rmSync(runnerDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('uses its own copy of the loader (PROOT_LOADER) instead of writing one to /tmp', async () => {
    // A private mount namespace where /tmp is noexec; proot writes its loader there by default.
    // The provisioned proot lives in the repository's test cache: when the checkout itself is under
    // /tmp (a CI clone), bind it again so that only the rest of /tmp is noexec.
    const repo = resolve(import.meta.dirname, '../../..');
    const rebind = repo === '/tmp' || repo.startsWith('/tmp/') ? ` && mount --bind '${repo}' '${repo}' && mount -o remount,bind,exec '${repo}'` : '';
    const script = `mount --bind /tmp /tmp && mount -o remount,bind,noexec /tmp${rebind} && exec "$@"`;
    const choose = JSON.stringify({ choose: 'proot', cacheDir: join(work, 'cache') });
    const out = execFileSync('unshare', ['-m', 'sh', '-c', script, 'sh', process.execPath, runner, choose], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    const c = JSON.parse(out) as { reason: string; checks: Array<{ ok: boolean }> };
    expect(c.reason).toMatch(/provisioned proot \S+ passes the self-check .*\(with its own PROOT_LOADER: the temporary directory is not executable\)$/);
    expect(c.checks.every((x) => x.ok)).toBe(true);
    const run = JSON.stringify({ env: { name: 'bb', rootfs: rootfs.root }, argv: ['sh', '-c', 'echo guest-ran; readlink /proc/self/exe'], opts: { binds: [], env: {}, isolated: true, engine: 'proot', tty: false }, cacheDir: join(work, 'cache') });
    const r = execFileSync('unshare', ['-m', 'sh', '-c', script, 'sh', process.execPath, runner, run], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(r).toBe('guest-ran\n/bin/busybox\n');
  });
});

describe.skipIf(arch === undefined || missing('busybox-static', haveBusybox()))('cake exec --engine proot (built CLI)', () => {
  let work: string;
  let tarball: string;
  const home = freshHome('cake-prov-cli-');
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-prov-cli-work-'));
    const bb = createBusyboxRootfs(join(work, 'rootfs'));
    // GNU stat calls statx(2): exactly what Debian's proot 5.1.0 fails to translate.
    copyWithLibraries(bb.root, '/usr/bin/stat', '/usr/bin/stat');
    tarball = join(work, 'bb.tar');
    execFileSync('tar', ['-C', bb.root, '--owner=0', '--group=0', '-cf', tarball, '.']);
    // The .debs come from the test store (hard links): the CLI provisions without downloading.
    const deps = provisionDeps();
    await provisionProot({ ...deps, logger: silentLogger, cacheDir: deps.engineCache });
    for (const d of pins!.debs) {
      const dst = join(home.home, 'v1/store/blobs/sha256', d.sha256);
      mkdirSync(dirname(dst), { recursive: true });
      if (!existsSync(dst)) linkSync(deps.blobs.path(d.sha256), dst);
    }
    await deps.close();
  });
  afterAll(() => {
    home.cleanup();
    execFileSync('chmod', ['-R', 'u+rwX', work]);
    rmSync(work, { recursive: true, force: true });
  });

  it('provisions proot once, and stat inside sees the guest file (statx translated)', async () => {
    expect((await cake(home.home, ['import', tarball, '--name', 'bb'])).code).toBe(0);
    const first = await cake(home.home, ['exec', 'bb', '--engine', 'proot', '--', '/usr/bin/stat', '-c', '%s', '/etc/passwd']);
    expect(first.code).toBe(0);
    const wc = await cake(home.home, ['exec', 'bb', '--engine', 'proot', '--', 'sh', '-c', 'wc -c < /etc/passwd']);
    expect(first.stdout.trim()).toBe(wc.stdout.trim());
    expect(first.stdout.trim()).not.toBe(String(statSync('/etc/passwd').size));
    const provisioned = /^provisioning proot \S+ from the Debian archive \(once\)$/m;
    const system = existsSync('/usr/bin/proot');
    if (system) expect(first.stderr).toMatch(provisioned);
    expect(wc.stderr).not.toMatch(provisioned);
    const doctor = JSON.parse((await cake(home.home, ['doctor', '--json'])).stdout) as Array<{ name: string; ok: boolean; detail: string }>;
    const engine = doctor.find((r) => r.name === 'proot engine');
    expect(engine?.ok).toBe(true);
    expect(engine?.detail).toMatch(/provisioned proot \S+ passes the self-check/);
    expect(doctor.find((r) => r.name === 'proot (provisioned)')?.detail).toMatch(/passes the self-check/);
  });
});

