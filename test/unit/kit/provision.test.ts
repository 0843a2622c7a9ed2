import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSha256Hex } from '../../../src/model/digest.js';
import { embeddedElfAt, findEmbeddedLoaders } from '../../../src/run/proot-loader.js';
import { PROOT_PINS, provisionArch } from '../../../src/kit/proot-pins.js';
import { findProvisionedProot, launcherScript, provisionKey, PROVISION_FORMAT, type ProvisionManifest } from '../../../src/kit/proot-provisioned.js';
import { describeCandidate } from '../../../src/run/proot-select.js';

/** A minimal static ELF executable: header, `phnum` PT_LOAD headers, `body` bytes, optional section headers. */
function elf(bits: 32 | 64, machine: number, body = 100, opts: { interp?: boolean; shnum?: number } = {}): Buffer {
  const wide = bits === 64;
  const ehsize = wide ? 64 : 52;
  const phentsize = wide ? 56 : 32;
  const shentsize = wide ? 64 : 40;
  const shnum = opts.shnum ?? 0;
  const dataOff = ehsize + phentsize;
  const shoff = shnum > 0 ? dataOff + body : 0;
  const b = Buffer.alloc(dataOff + body + shnum * shentsize);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = wide ? 2 : 1;
  b[5] = 1;
  b[6] = 1;
  b.writeUInt16LE(2, 16);
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(1, 20);
  if (wide) {
    b.writeBigUInt64LE(BigInt(ehsize), 32);
    b.writeBigUInt64LE(BigInt(shoff), 40);
  } else {
    b.writeUInt32LE(ehsize, 28);
    b.writeUInt32LE(shoff, 32);
  }
  const h = wide ? 54 : 42;
  b.writeUInt16LE(phentsize, h);
  b.writeUInt16LE(1, h + 2);
  b.writeUInt16LE(shentsize, h + 4);
  b.writeUInt16LE(shnum, h + 6);
  const p = ehsize;
  b.writeUInt32LE(opts.interp ? 3 : 1, p);
  if (wide) {
    b.writeBigUInt64LE(BigInt(dataOff), p + 8);
    b.writeBigUInt64LE(BigInt(body), p + 32);
  } else {
    b.writeUInt32LE(dataOff, p + 4);
    b.writeUInt32LE(body, p + 16);
  }
  b.fill(0xcc, dataOff, dataOff + body);
  return b;
}

describe('embedded proot loaders', () => {
  it('measures a static ELF by its segments and section headers', () => {
    const a = elf(64, 62, 300, { shnum: 3 });
    expect(embeddedElfAt(a, 0)).toEqual({ bits: 64, machine: 62, size: a.length });
    const b = elf(32, 3, 77);
    expect(embeddedElfAt(b, 0)).toEqual({ bits: 32, machine: 3, size: b.length });
  });

  it('rejects dynamic, truncated and non-ELF data', () => {
    expect(embeddedElfAt(elf(64, 62, 10, { interp: true }), 0)).toBeUndefined();
    const whole = elf(64, 62, 500);
    expect(embeddedElfAt(whole.subarray(0, 200), 0)).toBeUndefined();
    expect(embeddedElfAt(Buffer.from('\x7fELFu\x1b\x0f\xb6E\x04\x83\xe8\x01<\x01w\x10H\x83\xc4'.padEnd(80, 'x'), 'latin1'), 0)).toBeUndefined();
  });

  it('carves the 64-bit and 32-bit loaders for the host machine out of a proot binary', () => {
    const head = Buffer.concat([elf(64, 62, 50), Buffer.from('\x7fELF garbage in code', 'latin1')]);
    const aarch64 = elf(64, 183, 40);
    const l64 = elf(64, 62, 200, { shnum: 2 });
    const l32 = elf(32, 3, 120, { shnum: 2 });
    const proot = Buffer.concat([head, Buffer.alloc(13), aarch64, l64, l32, Buffer.alloc(64)]);
    const found = findEmbeddedLoaders(proot, 62, 3);
    expect(found.loader?.equals(l64)).toBe(true);
    expect(found.loader32?.equals(l32)).toBe(true);
    expect(findEmbeddedLoaders(proot, 183, 40).loader?.equals(aarch64)).toBe(true);
    expect(findEmbeddedLoaders(proot, 183, 40).loader32).toBeUndefined();
  });
});

describe('proot pins', () => {
  it('pin proot >= 5.4 with its libraries and libc6 last, for amd64 and arm64', () => {
    for (const arch of ['amd64', 'arm64'] as const) {
      const p = PROOT_PINS[arch];
      expect(p.debs.map((d) => d.name)).toEqual(['proot', 'libtalloc2', 'libc6']);
      for (const d of p.debs) {
        expect(isSha256Hex(d.sha256)).toBe(true);
        expect(d.filename).toMatch(new RegExp(`^pool/main/.+_${arch}\\.deb$`));
        expect(d.size).toBeGreaterThan(10_000);
      }
      expect(p.debs[0]!.version).toMatch(/^5\.(4|[5-9])/);
    }
    expect(provisionArch('x86_64')).toBe('amd64');
    expect(provisionArch('aarch64')).toBe('arm64');
    expect(provisionArch('riscv64')).toBeUndefined();
  });

  it('keys a provisioned directory by the .debs (and the layout format)', () => {
    const k = provisionKey(PROOT_PINS.amd64.debs);
    expect(k).toMatch(/^[0-9a-f]{20}$/);
    expect(provisionKey(PROOT_PINS.arm64.debs)).not.toBe(k);
    expect(provisionKey([{ ...PROOT_PINS.amd64.debs[0]!, sha256: '0'.repeat(64) }, ...PROOT_PINS.amd64.debs.slice(1)])).not.toBe(k);
  });
});

describe('the launcher and finding a provisioned proot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cake-prov-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('execs the loader with only the given library path, quoting paths', () => {
    const text = launcherScript({ ldso: "/c/it's/ld.so", libraryPath: '/c/lib', binary: '/c/bin/proot', debs: PROOT_PINS.amd64.debs });
    expect(text.startsWith('#!/bin/sh\n')).toBe(true);
    expect(text).toContain(`exec '/c/it'\\''s/ld.so' --inhibit-cache --library-path '/c/lib' '/c/bin/proot' "$@"\n`);
    expect(text).toContain(PROOT_PINS.amd64.debs[0]!.sha256);
    // The quoting survives a real shell.
    const out = execFileSync('sh', ['-c', text.replace(/^exec /m, 'printf "%s\\n" '), 'x', 'a b'], { encoding: 'utf8' });
    expect(out.split('\n')).toEqual(["/c/it's/ld.so", '--inhibit-cache', '--library-path', '/c/lib', '/c/bin/proot', 'a b', '']);
  });

  function fakeProvision(name: string, arch: 'amd64' | 'arm64', version: string, format = PROVISION_FORMAT): string {
    const d = join(dir, 'proot', name);
    mkdirSync(join(d, 'root'), { recursive: true });
    writeFileSync(join(d, 'proot'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(d, 'root/proot.bin'), 'x');
    const m: ProvisionManifest = {
      format,
      arch,
      source: 'resolved',
      debs: [{ ...PROOT_PINS[arch].debs[0]!, version }],
      launcher: join(d, 'proot'),
      binary: join(d, 'root/proot.bin'),
      ldso: '/x',
      libraryPath: '/x',
      loaderEnv: {},
      createdAt: '2026-01-01T00:00:00Z',
    };
    writeFileSync(join(d, 'provision.json'), JSON.stringify(m));
    return d;
  }

  it('finds the newest complete one of the host architecture, ignoring staging dirs and other formats', async () => {
    expect(await findProvisionedProot(dir, 'x86_64')).toBeUndefined();
    fakeProvision('a', 'amd64', '5.4.0-3');
    fakeProvision('b', 'amd64', '5.4.1-1');
    fakeProvision('c', 'arm64', '5.9.0-1');
    fakeProvision('.staging-d.1.2', 'amd64', '6.0.0-1');
    fakeProvision('e', 'amd64', '7.0.0-1', PROVISION_FORMAT + 1);
    expect((await findProvisionedProot(dir, 'x86_64'))?.version).toBe('5.4.1-1');
    expect((await findProvisionedProot(dir, 'aarch64'))?.version).toBe('5.9.0-1');
    expect(await findProvisionedProot(dir, 'riscv64')).toBeUndefined();
    // The current pins' directory wins over any other.
    fakeProvision(provisionKey(PROOT_PINS.amd64.debs), 'amd64', '5.4.0-3');
    expect((await findProvisionedProot(dir, 'x86_64'))?.dir).toBe(join(dir, 'proot', provisionKey(PROOT_PINS.amd64.debs)));
  });

  it('describes candidates for messages', () => {
    expect(describeCandidate({ binary: '/usr/bin/proot', env: {}, origin: 'system' })).toBe('system proot /usr/bin/proot');
    expect(describeCandidate({ binary: '/x/proot', env: {}, origin: 'provisioned', version: '5.4.0-3' })).toBe('provisioned proot 5.4.0-3');
    expect(describeCandidate({ binary: '/opt/p', env: {}, origin: 'user' })).toBe('CAKE_PROOT=/opt/p');
  });
});
