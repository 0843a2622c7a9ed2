import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DF_1_PIE, ET_EXEC, bufferSource, elfRole, parseElf, readElfFile } from '../../../src/archive/elf.js';
import { CakeError } from '../../../src/model/errors.js';
import { buildElf } from './elf-fixture.js';
import { missing } from '../../helpers/tools.js';

describe('ELF reader', () => {
  for (const bits of [32, 64] as const) {
    for (const endian of ['le', 'be'] as const) {
      it(`reads PT_INTERP and the dynamic section of ELF${bits} ${endian.toUpperCase()}`, () => {
        const buf = buildElf({ bits, endian, machine: 40, interp: '/lib/ld-linux.so.3', needed: ['libfoo.so.1', 'libc.so.6'], rpath: '/opt/a:$ORIGIN/../lib', runpath: '/opt/b', soname: 'self.so' });
        const info = parseElf(bufferSource(buf))!;
        expect(info).toMatchObject({
          bits,
          endian,
          machine: 40,
          interp: '/lib/ld-linux.so.3',
          needed: ['libfoo.so.1', 'libc.so.6'],
          rpath: ['/opt/a', '$ORIGIN/../lib'],
          runpath: ['/opt/b'],
          soname: 'self.so',
        });
        expect(elfRole(info)).toBe('dynamic-exe');
      });
    }
  }

  it('tells static executables, static-pie and libraries apart', () => {
    expect(elfRole(parseElf(bufferSource(buildElf({ type: ET_EXEC })))!)).toBe('static-exe');
    expect(elfRole(parseElf(bufferSource(buildElf({ needed: [], flags1: DF_1_PIE })))!)).toBe('static-exe');
    expect(elfRole(parseElf(bufferSource(buildElf({ needed: ['libc.so.6'], soname: 'libx.so.1' })))!)).toBe('library');
  });

  it('says undefined for files that are not ELF', () => {
    expect(parseElf(bufferSource(Buffer.from('#!/bin/sh\necho hi\n')))).toBeUndefined();
    expect(parseElf(bufferSource(Buffer.alloc(3)))).toBeUndefined();
  });

  it('refuses inconsistent headers with a CakeError, never a crash', () => {
    const good = buildElf({ interp: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6'] });
    const cases: Array<(b: Buffer) => void> = [
      (b) => b.writeBigUInt64LE(0xffffffffn, 32), // phoff far away
      (b) => b.writeUInt16LE(0xfff0, 56), // absurd phnum
      (b) => (b[4] = 9), // unknown class
      (b) => b.writeBigUInt64LE(BigInt(b.length + 100), 64 + 56 + 8), // PT_INTERP offset past the end
    ];
    for (const mutate of cases) {
      const b = Buffer.from(good);
      mutate(b);
      expect(() => parseElf(bufferSource(b))).toThrow(CakeError);
    }
    // a truncated file
    expect(() => parseElf(bufferSource(good.subarray(0, 40)))).toThrow(CakeError);
    // random bytes after the magic never throw anything but CakeError
    for (let i = 0; i < 200; i++) {
      const b = Buffer.from(good);
      for (let j = 0; j < 8; j++) b[16 + Math.floor(Math.random() * (b.length - 16))] = Math.floor(Math.random() * 256);
      try {
        parseElf(bufferSource(b));
      } catch (err) {
        expect(err).toBeInstanceOf(CakeError);
      }
    }
  });

  it.skipIf(missing('/usr/bin/bash', existsSync('/usr/bin/bash')))('reads a real program of the host', () => {
    const info = readElfFile('/usr/bin/bash')!;
    expect(info.interp).toMatch(/ld-linux/);
    expect(info.needed).toContain('libc.so.6');
    expect(elfRole(info)).toBe('dynamic-exe');
  });
});
