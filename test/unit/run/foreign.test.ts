import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeRunner, findBinfmtHandler, handlerMatches, parseBinfmtHandler, requireForeignRunner } from '../../../src/run/foreign.js';
import { CakeError } from '../../../src/model/errors.js';

// What Debian's qemu-user-static registers (from /usr/share/binfmts/qemu-aarch64), as the kernel prints it.
const AARCH64 = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`;
const RISCV64_NO_F = `enabled
interpreter /usr/bin/qemu-riscv64
flags: P
offset 0
magic 7f454c460201010000000000000000000200f300
mask ffffffffffffff00fffffffffffffffffeffffff
`;

const dirs: string[] = [];
function binfmtDir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'binfmt-'));
  dirs.push(d);
  for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), v);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('binfmt_misc handlers', () => {
  it('parses a handler and matches it by ELF machine', () => {
    const h = parseBinfmtHandler('qemu-aarch64', AARCH64)!;
    expect(h).toMatchObject({ enabled: true, flags: 'POF', interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P', offset: 0 });
    expect(handlerMatches(h, 'arm64')).toBe(true);
    expect(handlerMatches(h, 'aarch64')).toBe(true);
    expect(handlerMatches(h, 'riscv64')).toBe(false);
    expect(handlerMatches(h, 'armhf')).toBe(false);
  });

  it('finds only an enabled handler with the F flag, under an enabled binfmt_misc', async () => {
    const dir = binfmtDir({ status: 'enabled\n', register: '', 'qemu-aarch64': AARCH64, 'qemu-riscv64': RISCV64_NO_F });
    expect((await findBinfmtHandler('arm64', dir))?.name).toBe('qemu-aarch64');
    expect(await findBinfmtHandler('riscv64', dir)).toBeUndefined(); // no F: the interpreter is not in the env
    expect(await findBinfmtHandler('armhf', dir)).toBeUndefined();
    const off = binfmtDir({ status: 'disabled\n', 'qemu-aarch64': AARCH64 });
    expect(await findBinfmtHandler('arm64', off)).toBeUndefined();
    const disabled = binfmtDir({ status: 'enabled\n', 'qemu-aarch64': AARCH64.replace('enabled', 'disabled') });
    expect(await findBinfmtHandler('arm64', disabled)).toBeUndefined();
    expect(await findBinfmtHandler('arm64', join(tmpdir(), 'no-such-binfmt-dir'))).toBeUndefined();
  });

  it('prefers the kernel, then qemu-user on PATH, else one line naming the package', async () => {
    const dir = binfmtDir({ status: 'enabled\n', 'qemu-aarch64': AARCH64 });
    const k = await requireForeignRunner('aarch64', 'x86_64', { PATH: '/nonexistent' }, dir);
    expect(k.kind).toBe('binfmt');
    expect(describeRunner(k, 'aarch64')).toMatch(/kernel runs aarch64 programs through \/usr\/libexec\/qemu-binfmt\/aarch64-binfmt-P/);
    const bin = binfmtDir({ 'qemu-riscv64-static': '#!/bin/sh\n' });
    const { chmodSync } = await import('node:fs');
    chmodSync(join(bin, 'qemu-riscv64-static'), 0o755);
    const q = await requireForeignRunner('riscv64', 'x86_64', { PATH: bin }, join(bin, 'none'));
    expect(q).toEqual({ kind: 'qemu', qemu: join(bin, 'qemu-riscv64-static') });
    const err = await requireForeignRunner('vax', 'x86_64', { PATH: '/nonexistent' }, join(bin, 'none')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CakeError);
    expect((err as CakeError).code).toBe('missing-tool');
    expect((err as CakeError).message).toMatch(/vax .*qemu-vax-static/);
    expect((err as CakeError).hint).toBe('sudo apt-get install qemu-user-static');
  });
});
