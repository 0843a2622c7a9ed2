import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDebianKernel } from '../../../src/bake/kernel-cache.js';
import { resolvePaths } from '../../../src/store/paths.js';
import type { Logger } from '../../../src/model/logger.js';
import { missingCommands } from '../../helpers/tools.js';

describe.skipIf(missingCommands('dpkg-deb'))('the bake kernel cache verifies what it serves (issue 15 item 7)', () => {
  const work = mkdtempSync(join(tmpdir(), 'cake-kcache-'));
  const paths = resolvePaths({ CAKE_HOME: join(work, 'home') });
  const KERNEL = 'kernel bytes '.repeat(5000);
  let deb: { path: string; sha256: string; label: string };
  const lines: string[] = [];
  const logger: Logger = {
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    debug() {},
    progress: () => ({ update() {}, stop() {} }),
  };
  const prepare = async () => {
    lines.length = 0;
    return prepareDebianKernel({ paths, logger }, deb, () => []);
  };

  beforeAll(() => {
    const root = join(work, 'pkg');
    mkdirSync(join(root, 'DEBIAN'), { recursive: true });
    writeFileSync(join(root, 'DEBIAN/control'), 'Package: linux-image-test\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n');
    mkdirSync(join(root, 'boot'));
    writeFileSync(join(root, 'boot/vmlinuz-6.0.0-test'), KERNEL);
    mkdirSync(join(root, 'lib/modules/6.0.0-test'), { recursive: true });
    writeFileSync(join(root, 'lib/modules/6.0.0-test/modules.order'), 'kernel/x.ko\n');
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', root, join(work, 'k.deb')], { stdio: 'ignore' });
    deb = { path: join(work, 'k.deb'), sha256: 'a'.repeat(64), label: 'linux-image-test' };
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('unpacks once, serves an intact entry without a word, and unpacks a damaged one again with one warning', async () => {
    const k = await prepare();
    expect(lines).toEqual(['info: unpacking linux-image-test (once: it is kept in the cache)']);
    expect(k.release).toBe('6.0.0-test');
    expect(readFileSync(k.vmlinuz, 'utf8')).toBe(KERNEL);

    await prepare();
    expect(lines).toEqual([]);

    // a touched file with the same content is fine (its new time is recorded)
    utimesSync(k.vmlinuz, 1000, 1000);
    await prepare();
    expect(lines).toEqual([]);
    expect(statSync(k.vmlinuz).mtimeMs).toBe(1_000_000);

    // truncated (the case): one warning, the kernel is whole again
    truncateSync(k.vmlinuz, 1000);
    await prepare();
    expect(lines).toEqual([`warn: the cached linux-image-test is damaged (vmlinuz has 1000 bytes, ${KERNEL.length} were written); it is unpacked again`]);
    expect(readFileSync(k.vmlinuz, 'utf8')).toBe(KERNEL);

    // the same size, other bytes (edited in place: only the time tells): the content is hashed
    const mod = join(k.modulesDir, 'modules.order');
    writeFileSync(mod, 'kernel/y.ko\n');
    await prepare();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warn: the cached linux-image-test is damaged \(modules\/6\.0\.0-test\/modules\.order was changed \(sha256 [0-9a-f]{12}…, [0-9a-f]{12}… was written\)\); it is unpacked again$/);
    expect(readFileSync(mod, 'utf8')).toBe('kernel/x.ko\n');

    // a file removed, a file added
    rmSync(join(k.modulesDir, 'modules.alias'));
    await prepare();
    expect(lines[0]).toContain('(modules/6.0.0-test/modules.alias is missing)');
    writeFileSync(join(k.modulesDir, 'evil.ko'), 'x');
    await prepare();
    expect(lines[0]).toContain('(modules/6.0.0-test/evil.ko was added)');
    await prepare();
    expect(lines).toEqual([]);
  });

  it("bake's own depmod index beside the modules is not part of the entry", async () => {
    const k = await prepare();
    mkdirSync(`${k.modulesDir}.depmod`, { recursive: true });
    writeFileSync(`${k.modulesDir}.depmod/modules.dep.bin`, 'x');
    await prepare();
    expect(lines).toEqual([]);
  });
});
