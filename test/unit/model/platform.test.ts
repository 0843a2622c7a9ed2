import { describe, expect, it } from 'vitest';
import {
  formatPlatform,
  fromDebianArch,
  fromDistroArch,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  samePlatform,
  toDebianArch,
  toDistroArch,
  DISTRO_ARCHES,
} from '../../../src/model/platform.js';

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['x86_64', 'linux/amd64'],
    ['LINUX/AMD64', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/armhf', 'linux/arm/v7'],
    ['armv7', 'linux/arm/v7'],
    ['armel', 'linux/arm/v5'],
    ['linux/386', 'linux/386'],
    ['i686', 'linux/386'],
    ['linux/riscv64', 'linux/riscv64'],
    ['linux/ppc64el', 'linux/ppc64le'],
    ['linux/s390x', 'linux/s390x'],
  ])('%s -> %s', (text, want) => {
    expect(formatPlatform(parsePlatform(text))).toBe(want);
  });

  it('parses into os, arch and variant', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', arch: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', arch: 'arm64' });
    expect(parsePlatform('linux/arm')).toEqual({ os: 'linux', arch: 'arm', variant: 'v7' });
  });

  it.each(['', '/', 'linux/', 'linux//v7', 'linux/arm64/v8/x', 'windows/amd64', 'linux/sparc', 'linux/arm/v9', 'linux/armhf/v6', 'linux/amd64/v8'])(
    'rejects %j as a usage error',
    (text) => {
      expect(() => parsePlatform(text)).toThrow(expect.objectContaining({ code: 'usage', exitCode: 2 }));
    },
  );
});

describe('samePlatform', () => {
  it('treats default variants as equal', () => {
    expect(samePlatform(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8'))).toBe(true);
    expect(samePlatform(parsePlatform('aarch64'), { os: 'linux', arch: 'arm64', variant: 'v8' })).toBe(true);
    expect(samePlatform(parsePlatform('linux/amd64'), parsePlatform('linux/amd64/v1'))).toBe(true);
    expect(samePlatform(parsePlatform('linux/arm'), parsePlatform('linux/arm/v7'))).toBe(true);
    expect(samePlatform(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7'))).toBe(false);
    expect(samePlatform(parsePlatform('linux/amd64/v3'), parsePlatform('linux/amd64'))).toBe(false);
  });
});

describe('hostPlatform', () => {
  it.each([
    ['x64', 'linux/amd64'],
    ['arm64', 'linux/arm64'],
    ['arm', 'linux/arm/v7'],
    ['ia32', 'linux/386'],
    ['riscv64', 'linux/riscv64'],
    ['ppc64', 'linux/ppc64le'],
    ['s390x', 'linux/s390x'],
  ])('process.arch %s -> %s', (nodeArch, want) => {
    expect(formatPlatform(hostPlatform(nodeArch))).toBe(want);
  });

  it('refuses an architecture cake does not support', () => {
    expect(() => hostPlatform('mips')).toThrow(expect.objectContaining({ code: 'engine' }));
  });
});

describe('arch name mappings', () => {
  it.each([
    ['linux/amd64', 'x86_64', 'amd64'],
    ['linux/arm64', 'aarch64', 'arm64'],
    ['linux/arm64/v8', 'aarch64', 'arm64'],
    ['linux/arm/v7', 'armv7', 'armhf'],
    ['linux/386', 'i686', 'i386'],
    ['linux/riscv64', 'riscv64', 'riscv64'],
    ['linux/ppc64le', 'ppc64le', 'ppc64el'],
    ['linux/s390x', 's390x', 's390x'],
  ])('%s is %s for distros and %s for Debian', (oci, distro, debian) => {
    const p = parsePlatform(oci);
    expect(toDistroArch(p)).toBe(distro);
    expect(toDebianArch(p)).toBe(debian);
    expect(samePlatform(fromDebianArch(debian)!, p)).toBe(true);
  });

  it('maps every distro arch back and forth', () => {
    for (const arch of DISTRO_ARCHES) expect(toDistroArch(fromDistroArch(arch))).toBe(arch);
  });

  it('has no distro name for old ARM levels, and Debian calls them armel', () => {
    expect(toDistroArch(parsePlatform('linux/arm/v6'))).toBeUndefined();
    expect(toDebianArch(parsePlatform('linux/arm/v6'))).toBe('armel');
    expect(fromDebianArch('armel')).toEqual({ os: 'linux', arch: 'arm', variant: 'v5' });
    expect(fromDebianArch('mips64el')).toBeUndefined();
  });

  it('keeps normalisation idempotent', () => {
    for (const text of ['linux/arm', 'linux/arm64/v8', 'x86_64', 'armhf']) {
      const once = parsePlatform(text);
      expect(normalizePlatform(once)).toEqual(once);
    }
  });
});
