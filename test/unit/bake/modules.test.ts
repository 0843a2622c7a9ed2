import { describe, expect, it } from 'vitest';
import { DEFAULT_MODULES, modulePlan } from '../../../src/bake/initramfs.js';
import { bzImageRelease } from '../../../src/bake/kernel.js';
import { parseSoftdepText, readModinfo } from '../../../src/bake/modinfo.js';
import { loadOrder, moduleName, parseModulesDb, writeModulesTexts } from '../../../src/bake/modules-dep.js';

/** A minimal ELF64 little-endian relocatable with a .modinfo section holding `pairs`. */
function fakeModule(pairs: string[]): Buffer {
  const modinfo = Buffer.from(pairs.map((p) => `${p}\0`).join(''));
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0');
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2;
  header[5] = 1;
  header[6] = 1;
  const dataOff = 64;
  const strOff = dataOff + modinfo.length;
  const shoff = strOff + shstr.length;
  header.writeBigUInt64LE(BigInt(shoff), 0x28);
  header.writeUInt16LE(64, 0x3a);
  header.writeUInt16LE(3, 0x3c);
  header.writeUInt16LE(2, 0x3e);
  const sh = Buffer.alloc(64 * 3);
  sh.writeUInt32LE(1, 64);
  sh.writeBigUInt64LE(BigInt(dataOff), 64 + 24);
  sh.writeBigUInt64LE(BigInt(modinfo.length), 64 + 32);
  sh.writeUInt32LE(10, 128);
  sh.writeBigUInt64LE(BigInt(strOff), 128 + 24);
  sh.writeBigUInt64LE(BigInt(shstr.length), 128 + 32);
  return Buffer.concat([header, modinfo, shstr, sh]);
}

describe('.modinfo', () => {
  it('reads name, depends, softdep and aliases from an ELF module', () => {
    const ko = fakeModule(['license=GPL', 'softdep=pre: crc32c', 'alias=fs-ext4', 'depends=mbcache,jbd2,crc16', 'name=ext4', 'vermagic=6.1.0 SMP mod_unload']);
    expect(readModinfo(ko, 'ext4.ko')).toEqual({ name: 'ext4', depends: ['mbcache', 'jbd2', 'crc16'], softPre: ['crc32c'], softPost: [], aliases: ['fs-ext4'] });
    expect(readModinfo(fakeModule(['depends=', 'name=virtio']), 'v.ko').depends).toEqual([]);
  });

  it('refuses what is not an ELF module', () => {
    expect(() => readModinfo(Buffer.from('\xfd7zXZ\0 compressed........................................................'), 'x.ko.xz')).toThrow(/not an ELF/);
    const noSection = fakeModule(['name=x']);
    noSection.write('.other\0', 64 + 'name=x\0'.length + 1);
    expect(() => readModinfo(noSection, 'x.ko')).toThrow(/no .modinfo/);
  });

  it('parses softdep text', () => {
    expect(parseSoftdepText('pre: a b post: c')).toEqual({ pre: ['a', 'b'], post: ['c'] });
    expect(parseSoftdepText('post: z')).toEqual({ pre: [], post: ['z'] });
  });
});

const DEP = `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/lib/crc16.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko.xz:
`;

describe('modules.dep and load order', () => {
  const db = parseModulesDb({
    dep: DEP,
    softdep: 'softdep ext4 pre: crc32c\n',
    alias: 'alias crypto-crc32c crc32c_generic\nalias crc32c crc32c_generic\nalias crc32c crc32c_intel\nalias fs-ext4 ext4\n',
    builtin: 'kernel/drivers/scsi/sd_mod.ko\n',
  });

  it('names modules as the kernel does', () => {
    expect(moduleName('kernel/arch/x86/crypto/crc32c-intel.ko.xz')).toBe('crc32c_intel');
    expect(moduleName('kernel/fs/ext4/ext4.ko')).toBe('ext4');
  });

  it('loads dependencies first, soft pre-dependencies (through aliases) before, each once', () => {
    const plan = loadOrder(db, ['virtio_pci', 'virtio_blk', 'ext4']);
    const names = plan.order.map(moduleName);
    expect(new Set(names).size).toBe(names.length);
    const before = (a: string, b: string): boolean => names.indexOf(a) < names.indexOf(b);
    expect(before('virtio_ring', 'virtio')).toBe(true);
    expect(before('virtio', 'virtio_pci')).toBe(true);
    expect(before('virtio_pci_modern_dev', 'virtio_pci')).toBe(true);
    expect(before('virtio', 'virtio_blk')).toBe(true);
    for (const d of ['crc16', 'mbcache', 'jbd2', 'crc32c_generic', 'crc32c_intel']) expect(before(d, 'ext4')).toBe(true);
    expect(plan.missing).toEqual([]);
  });

  it('orders the same whether modules.dep lists direct or transitive dependencies', () => {
    const direct = parseModulesDb({ dep: DEP.replace('kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko', 'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko') });
    expect(loadOrder(direct, ['virtio_blk']).order.map(moduleName)).toEqual(['virtio_ring', 'virtio', 'virtio_blk']);
  });

  it('reports built-in and missing modules, and resolves aliases', () => {
    const plan = loadOrder(db, ['sd_mod', 'nosuch', 'fs-ext4']);
    expect(plan.builtin).toEqual(['sd_mod']);
    expect(plan.missing).toEqual(['nosuch']);
    expect(plan.order.map(moduleName)).toContain('ext4');
  });

  it('writes depmod-style texts from .modinfo that order the same way', () => {
    const info = (name: string, depends: string[] = [], softPre: string[] = [], aliases: string[] = []) => ({ name, depends, softPre, softPost: [], aliases });
    const texts = writeModulesTexts([
      { path: 'kernel/fs/ext4/ext4.ko', info: info('ext4', ['mbcache', 'jbd2', 'crc16'], ['crc32c'], ['fs-ext4']) },
      { path: 'kernel/fs/jbd2/jbd2.ko', info: info('jbd2') },
      { path: 'kernel/fs/mbcache.ko', info: info('mbcache') },
      { path: 'kernel/lib/crc16.ko', info: info('crc16') },
      { path: 'kernel/crypto/crc32c_generic.ko', info: info('crc32c_generic', [], [], ['crypto-crc32c', 'crc32c', 'pci:v00001AF4d*']) },
    ]);
    expect(texts.dep).toContain('kernel/fs/ext4/ext4.ko: ');
    expect(texts.softdep).toBe('softdep ext4 pre: crc32c\n');
    expect(texts.alias).not.toContain('pci:');
    const order = loadOrder(parseModulesDb(texts), ['ext4']).order.map(moduleName);
    expect(order[order.length - 1]).toBe('ext4');
    expect(order).toContain('crc32c_generic');
    expect(() => writeModulesTexts([{ path: 'a.ko', info: info('a', ['missing']) }])).toThrow(/depends on missing/);
  });

  it('plans the initramfs: defaults may be built in, unknown extras are an error', () => {
    const kernel = { release: '6.1.0', vmlinuz: '/k', db, label: 'test kernel' };
    const plan = modulePlan(kernel, ['fs-ext4']);
    expect(plan.order.map(moduleName)).toEqual(expect.arrayContaining(['virtio_pci', 'virtio_blk', 'ext4', 'crc32c_generic']));
    expect(() => modulePlan(kernel, ['nosuch'])).toThrow(/has no module nosuch/);
    expect(modulePlan({ release: '6.1.0', vmlinuz: '/k', label: 'bare' }, []).missing).toEqual([...DEFAULT_MODULES]);
    expect(() => modulePlan({ release: '6.1.0', vmlinuz: '/k', label: 'bare' }, ['x'])).toThrow(/no modules directory/);
  });
});

describe('bzImage header', () => {
  it('reads the kernel release from the setup header', () => {
    const img = Buffer.alloc(0x800);
    img.write('HdrS', 0x202, 'latin1');
    img.writeUInt16LE(0x400, 0x20e);
    img.write('6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP\0', 0x600, 'latin1');
    expect(bzImageRelease(img)).toBe('6.1.0-27-amd64');
    expect(bzImageRelease(Buffer.alloc(0x800))).toBeUndefined();
  });
});
