import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writeCpio, type CpioEntry } from '../../../src/bake/cpio.js';
import { GPT_TYPE, LEGACY_BIOS_BOOTABLE, guidBytes, guidString, readGpt, usableRange, writeGpt } from '../../../src/bake/partition.js';
import { sha512Crypt, saltFromSeed } from '../../../src/bake/sha512-crypt.js';
import { derivedUuid, imageIds } from '../../../src/bake/identity.js';
import { missingCommands } from '../../helpers/tools.js';

/** A newc reader for the tests: [name, mode, uid, gid, nlink, mtime, rdevmajor, rdevminor, data]. */
function readNewc(buf: Buffer): Array<{ name: string; mode: number; uid: number; nlink: number; mtime: number; rdev: [number, number]; data: Buffer; ino: number }> {
  const out = [];
  let o = 0;
  const pad4 = (n: number): number => (n + 3) & ~3;
  for (;;) {
    expect(buf.toString('latin1', o, o + 6)).toBe('070701');
    const f = (i: number): number => parseInt(buf.toString('latin1', o + 6 + i * 8, o + 14 + i * 8), 16);
    const namesize = f(11);
    const name = buf.toString('utf8', o + 110, o + 110 + namesize - 1);
    expect(buf[o + 110 + namesize - 1]).toBe(0);
    const dataAt = pad4(o + 110 + namesize);
    const size = f(6);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, ino: f(0), mode: f(1), uid: f(2), nlink: f(4), mtime: f(5), rdev: [f(9), f(10)] as [number, number], data: buf.subarray(dataAt, dataAt + size) });
    o = pad4(dataAt + size);
  }
}

describe('cpio (newc) writer', () => {
  const entries: CpioEntry[] = [
    { path: 'init', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
    { path: 'dev', type: 'dir', mode: 0o755 },
    { path: 'dev/console', type: 'char', mode: 0o600, rdev: [5, 1] },
    { path: 'bin', type: 'dir', mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: Buffer.alloc(13, 7) },
  ];

  it('writes sorted entries with 4-byte alignment, fixed mtime and inode numbers, a trailer, 512-byte padding', () => {
    const buf = writeCpio(entries, 1700000000);
    expect(buf.length % 512).toBe(0);
    const got = readNewc(buf);
    expect(got.map((e) => e.name)).toEqual(['bin', 'bin/busybox', 'bin/sh', 'dev', 'dev/console', 'init']);
    expect(got.map((e) => e.ino)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(got.every((e) => e.mtime === 1700000000 && e.uid === 0)).toBe(true);
    expect(got[0]?.mode).toBe(0o040755);
    expect(got[0]?.nlink).toBe(2);
    expect(got[2]?.mode).toBe(0o120777);
    expect(got[2]?.data.toString()).toBe('busybox');
    expect(got[4]?.mode).toBe(0o020600);
    expect(got[4]?.rdev).toEqual([5, 1]);
    expect(got[1]?.data).toEqual(Buffer.alloc(13, 7));
  });

  it('is deterministic whatever the input order', () => {
    expect(writeCpio([...entries].reverse(), 5).equals(writeCpio(entries, 5))).toBe(true);
  });

  it('refuses bad paths, duplicates and entries without their directory', () => {
    expect(() => writeCpio([{ path: '/abs', type: 'dir', mode: 0o755 }], 0)).toThrow(/bad entry path/);
    expect(() => writeCpio([{ path: 'a/../b', type: 'dir', mode: 0o755 }], 0)).toThrow(/bad entry path/);
    expect(() => writeCpio([{ path: 'x/y', type: 'file', mode: 0o644 }], 0)).toThrow(/without its directory/);
    expect(() => writeCpio([{ path: 'a', type: 'dir', mode: 0o755 }, { path: 'a', type: 'dir', mode: 0o755 }], 0)).toThrow(/duplicate/);
  });

  it.skipIf(missingCommands('cpio'))('is read back by GNU cpio', () => {
    const r = spawnSync('cpio', ['-it', '--quiet'], { input: writeCpio(entries, 0) });
    expect(r.stdout.toString().trim().split('\n')).toEqual(['bin', 'bin/busybox', 'bin/sh', 'dev', 'dev/console', 'init']);
  });
});

describe('GPT', () => {
  const disk = {
    diskGuid: '01234567-89AB-CDEF-0123-456789ABCDEF',
    sectors: 204800,
    partitions: [
      { type: GPT_TYPE.esp, uuid: '11111111-2222-3333-4444-555555555555', name: 'ESP', start: 2048, sectors: 131072, attributes: LEGACY_BIOS_BOOTABLE },
      { type: GPT_TYPE.rootX86_64, uuid: 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE', name: 'root', start: 133120, sectors: 69632 },
    ],
    bootCode: Buffer.alloc(440, 0xeb),
  };

  it('encodes GUIDs mixed-endian, as on disk', () => {
    expect(guidBytes(GPT_TYPE.esp).toString('hex')).toBe('28732ac11ff8d211ba4b00a0c93ec93b');
    expect(guidString(guidBytes(GPT_TYPE.rootX86_64))).toBe(GPT_TYPE.rootX86_64);
    expect(() => guidBytes('not-a-guid')).toThrow();
  });

  it('writes a protective MBR, valid headers with CRCs, and reads back what it wrote', () => {
    const { head, tail } = writeGpt(disk);
    expect(head.length).toBe(34 * 512);
    expect(tail.length).toBe(33 * 512);
    expect(head.subarray(0, 440).every((b) => b === 0xeb)).toBe(true);
    expect(head[450]).toBe(0xee);
    expect(head.readUInt32LE(454)).toBe(1);
    expect(head.readUInt16BE(510)).toBe(0x55aa);
    const h = Buffer.from(head.subarray(512, 512 + 92));
    const crc = h.readUInt32LE(16);
    h.writeUInt32LE(0, 16);
    expect(crc32(h)).toBe(crc);
    expect(head.readUInt32LE(512 + 88)).toBe(crc32(head.subarray(1024, 1024 + 16384)));
    const back = tail.subarray(32 * 512);
    expect(back.toString('latin1', 0, 8)).toBe('EFI PART');
    expect(back.readBigUInt64LE(24)).toBe(BigInt(disk.sectors - 1));
    expect(back.readBigUInt64LE(72)).toBe(BigInt(disk.sectors - 33));
    const read = readGpt(head);
    expect(read.diskGuid).toBe(disk.diskGuid);
    expect(read.partitions).toEqual(disk.partitions.map((p) => ({ ...p, attributes: p.attributes ?? 0n })));
  });

  it('refuses overlapping partitions and ones outside the usable range', () => {
    const { first, last } = usableRange(disk.sectors);
    expect([first, last]).toEqual([34, disk.sectors - 34]);
    const p = disk.partitions[0] as (typeof disk.partitions)[0];
    expect(() => writeGpt({ ...disk, partitions: [p, { ...p, uuid: disk.diskGuid, start: 4096 }] })).toThrow(/overlaps/);
    expect(() => writeGpt({ ...disk, partitions: [{ ...p, start: 10 }] })).toThrow(/overlaps or leaves/);
  });

  it.skipIf(missingCommands('sfdisk'))('is what sfdisk reads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cake-gpt-'));
    try {
      const img = join(dir, 'd.img');
      const { head, tail } = writeGpt(disk);
      writeFileSync(img, Buffer.concat([head, Buffer.alloc((disk.sectors - 34 - 33) * 512), tail]));
      const dump = execFileSync('sfdisk', ['-d', img], { encoding: 'utf8' });
      expect(dump).toContain('label: gpt');
      expect(dump).toContain(`label-id: ${disk.diskGuid}`);
      expect(dump).toMatch(/start=\s*2048, size=\s*131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=11111111-2222-3333-4444-555555555555, name="ESP", attrs="LegacyBIOSBootable"/);
      expect(dump).toMatch(/start=\s*133120, size=\s*69632, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709/);
      const verify = spawnSync('sfdisk', ['--verify', img], { encoding: 'utf8' });
      expect(verify.stdout + verify.stderr).toContain('No errors detected');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sha512-crypt', () => {
  it('matches the specification test vector', () => {
    expect(sha512Crypt('Hello world!', 'saltstring')).toBe('$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1');
  });

  it.skipIf(missingCommands('openssl'))('matches openssl passwd -6 for short, empty-salted and long passwords', () => {
    for (const pw of ['x', 'correct horse battery staple', 'p'.repeat(130)]) {
      const want = execFileSync('openssl', ['passwd', '-6', '-salt', 'abcdefgh12345678', pw], { encoding: 'utf8' }).trim();
      expect(sha512Crypt(pw, 'abcdefgh12345678')).toBe(want);
    }
  });

  it('derives a valid salt from a seed and refuses bad salts', () => {
    expect(saltFromSeed(Buffer.from('0123456789abcdef0123'))).toMatch(/^[./0-9A-Za-z]{16}$/);
    expect(() => sha512Crypt('x', 'bad$salt')).toThrow();
  });
});

describe('image identifiers', () => {
  it('are stable per seed, shaped like UUIDs, distinct per role and per seed', () => {
    const a = imageIds('seed-a');
    expect(imageIds('seed-a')).toEqual(a);
    expect(a.rootFsUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.diskGuid).toMatch(/^[0-9A-F-]{36}$/);
    expect(a.espVolumeId).toMatch(/^[0-9a-f]{8}$/);
    expect(new Set([a.diskGuid.toLowerCase(), a.espPartUuid.toLowerCase(), a.rootPartUuid.toLowerCase(), a.rootFsUuid, a.rootHashSeed]).size).toBe(5);
    expect(imageIds('seed-b').rootFsUuid).not.toBe(a.rootFsUuid);
    expect(derivedUuid('s', 'x')).not.toBe(derivedUuid('s', 'y'));
  });
});
