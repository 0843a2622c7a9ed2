import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { consoleMatcher, runQemu, stripAnsi } from '../../../src/boot/boot-run.js';
import { createRaw, planLayout, sweepStaleOutputs, writeTables } from '../../../src/bake/image-output.js';
import { inspectImage } from '../../../src/boot/image-inspect.js';
import { createToolRunner } from '../../../src/bake/tools.js';
import { makeWorkDir } from '../../../src/bake/work-dir.js';
import { probeSector } from '../../../src/boot/kvm-probe.js';
import { checkHostname, hostnameFromEnv, parseCmdline, parseKernelSpec, parseModules, parseSize } from '../../../src/model/bake-options.js';
import { findOvmf, qemuArgs, userChoosesFirmware, type QemuPlan } from '../../../src/boot/qemu.js';
import { missingCommands } from '../../helpers/tools.js';

const MIB = 1024 * 1024;

describe('bake options', () => {
  it('parses sizes', () => {
    expect(parseSize('auto')).toBe('auto');
    expect(parseSize('2G')).toBe(2 * 1024 * MIB);
    expect(parseSize('512M')).toBe(512 * MIB);
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 * MIB);
    expect(parseSize('4096')).toBe(4096);
    for (const bad of ['', 'big', '-1G', '0', '2X']) expect(() => parseSize(bad)).toThrow(/invalid --size/);
  });

  it('parses kernel specs', () => {
    expect(parseKernelSpec(undefined)).toEqual({ kind: 'debian', release: 'bookworm', package: 'linux-image-amd64' });
    expect(parseKernelSpec('env')).toEqual({ kind: 'env' });
    expect(parseKernelSpec('debian:linux-image-cloud-amd64')).toEqual({ kind: 'debian', release: 'bookworm', package: 'linux-image-cloud-amd64' });
    expect(parseKernelSpec('debian:trixie/linux-image-amd64')).toEqual({ kind: 'debian', release: 'trixie', package: 'linux-image-amd64' });
    expect(parseKernelSpec('debian:linux-image-6.1.0-27-amd64=6.1.115-1')).toEqual({ kind: 'debian', release: 'bookworm', package: 'linux-image-6.1.0-27-amd64', version: '6.1.115-1' });
    expect(parseKernelSpec('./bzImage')).toEqual({ kind: 'path', path: './bzImage' });
    expect(() => parseKernelSpec('debian:Bad Name')).toThrow(/invalid --kernel/);
  });

  it('splits --modules into directories and names', () => {
    expect(parseModules(['virtio_gpu,9p', './mods'])).toEqual({ dirs: ['./mods'], names: ['virtio_gpu', '9p'] });
    expect(() => parseModules(['a b'])).toThrow(/invalid --modules/);
  });

  it('checks host names and derives one from an env name', () => {
    expect(checkHostname('web-1')).toBe('web-1');
    expect(() => checkHostname('-bad')).toThrow();
    expect(() => checkHostname('a_b')).toThrow();
    expect(hostnameFromEnv('debian:bookworm')).toBe('debian-bookworm');
    expect(hostnameFromEnv('___')).toBe('cake');
    expect(parseCmdline(['  quiet  loglevel=3 '])).toEqual(['quiet', 'loglevel=3']);
  });
});

describe('disk layout', () => {
  it('puts the boot partition at 1 MiB, the root after it, 1 MiB for the backup table', () => {
    const l = planLayout(64 * MIB, 300 * MIB, undefined, 100 * MIB);
    expect(l.esp).toEqual({ start: 2048, sectors: 131072 });
    expect(l.root).toEqual({ start: 2048 + 131072, sectors: (300 * MIB) / 512 });
    expect(l.totalBytes).toBe((1 + 64 + 300 + 1) * MIB);
  });

  it('gives the root what a fixed size leaves, and says how much is needed when it is too small', () => {
    const l = planLayout(64 * MIB, undefined, 1024 * MIB, 100 * MIB);
    expect(l.totalBytes).toBe(1024 * MIB);
    expect(l.root.sectors * 512).toBe((1024 - 66) * MIB);
    expect(() => planLayout(64 * MIB, undefined, 120 * MIB, 100 * MIB)).toThrow(/--size 120 MiB is too small: the image needs at least 166 MiB/);
  });
});

describe('what cake boot sees in an image', () => {
  it('tells BIOS-only, EFI-only and hybrid images apart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cake-inspect-'));
    const layout = planLayout(64 * MIB, 8 * MIB, undefined, 1);
    const ids = { diskGuid: '01234567-89AB-CDEF-0123-456789ABCDEF', espPartUuid: '11111111-2222-3333-4444-555555555555', rootPartUuid: 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE' };
    const tools = createToolRunner(process.env);
    const kinds: Array<[boolean, boolean]> = [[true, false], [false, true], [true, true]];
    for (const [bios, efi] of kinds) {
      const img = join(dir, `${bios}-${efi}.img`);
      createRaw(img, layout);
      writeTables(img, { layout, ids, bios, efi, ...(bios ? { bootCode: Buffer.alloc(440, 0xfa) } : {}) });
      const info = await inspectImage(img, tools, dir);
      expect({ bios: info.bios, efi: info.efi, format: info.format, esp: info.esp }).toEqual({ bios, efi, format: 'raw', esp: { offset: MIB, size: 64 * MIB } });
    }
    await expect(inspectImage(join(dir, 'none.img'), tools, dir)).rejects.toThrow(/no such file/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('leftovers of killed bakes', () => {
  it('removes the work directories of dead commands when a new one starts', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'cake-work-'));
    for (const d of ['bake-999999999-abcd', `boot-${process.pid}-beef`, 'other']) mkdirSync(join(tmp, d));
    const work = await makeWorkDir(tmp, 'boot');
    expect(readdirSync(tmp).sort()).toEqual([`boot-${process.pid}-beef`, work.slice(tmp.length + 1), 'other'].sort());
    rmSync(tmp, { recursive: true, force: true });
  });

  it('removes temporary images of dead processes only, and only those of the same output', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cake-sweep-'));
    for (const f of ['.x.img.raw.999999999.tmp', `.x.img.raw.${process.pid}.tmp`, '.y.img.raw.999999999.tmp', 'x.img']) writeFileSync(join(dir, f), '');
    sweepStaleOutputs(join(dir, 'x.img'));
    expect(readdirSync(dir).sort()).toEqual([`.x.img.raw.${process.pid}.tmp`, '.y.img.raw.999999999.tmp', 'x.img']);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('qemu command line', () => {
  const base: QemuPlan = { image: '/i.img', format: 'raw', firmware: { kind: 'bios' }, accel: 'tcg', memory: 1024, sshPort: 2222, interactive: false, extra: [] };
  const has = (args: string[], ...seq: string[]): boolean => args.some((_, i) => seq.every((s, j) => args[i + j] === s));

  it('boots BIOS on pc, EFI on q35 with OVMF pflash, forwards SSH and puts the console on stdio', () => {
    const bios = qemuArgs(base);
    expect(has(bios, '-accel', 'tcg')).toBe(true);
    expect(has(bios, '-machine', 'pc')).toBe(true);
    expect(has(bios, '-drive', 'file=/i.img,format=raw,if=virtio')).toBe(true);
    expect(has(bios, '-netdev', 'user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22')).toBe(true);
    expect(has(bios, '-serial', 'stdio')).toBe(true);
    const efi = qemuArgs({ ...base, firmware: { kind: 'efi', code: '/c.fd', vars: '/v.fd' }, accel: 'kvm', interactive: true, extra: ['-snapshot'] });
    expect(has(efi, '-machine', 'q35')).toBe(true);
    expect(has(efi, '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/c.fd')).toBe(true);
    expect(has(efi, '-serial', 'mon:stdio')).toBe(true);
    expect(efi[efi.length - 1]).toBe('-snapshot');
  });

  it('leaves the firmware and machine to the user when their arguments choose them', () => {
    expect(userChoosesFirmware(['-bios', '/x'])).toBe(true);
    expect(userChoosesFirmware(['-drive', 'if=pflash,file=/x'])).toBe(true);
    expect(userChoosesFirmware(['-snapshot'])).toBe(false);
    expect(qemuArgs({ ...base, extra: ['-M', 'microvm'] })).not.toContain('-machine');
  });

  it('finds OVMF as code+vars, or as one file', () => {
    expect(findOvmf('/w', (p) => p.endsWith('OVMF_CODE_4M.fd') || p.endsWith('OVMF_VARS_4M.fd'))).toEqual({ kind: 'efi', code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/w/OVMF_VARS.fd' });
    expect(findOvmf('/w', (p) => p === '/usr/share/ovmf/OVMF.fd')).toEqual({ kind: 'efi-bios', file: '/usr/share/ovmf/OVMF.fd' });
    expect(findOvmf('/w', () => false)).toBeUndefined();
  });
});

describe('console matching', () => {
  it('strips escape sequences and finds text split between chunks', () => {
    expect(stripAnsi('\x1b[0;32m  OK  \x1b[0m] Started')).toBe('  OK  ] Started');
    const m = consoleMatcher('login:');
    expect(m('debian log')).toBe(false);
    expect(m('in')).toBe(false);
    expect(m(': ')).toBe(true);
    const m2 = consoleMatcher('login:');
    expect(m2('\x1b[1mlog\x1b[0min:')).toBe(true);
  });
});

describe('KVM probe sector', () => {
  it('is a boot sector that prints the marker', () => {
    const s = probeSector();
    expect(s.length).toBe(512);
    expect(s.readUInt16BE(510)).toBe(0x55aa);
    expect(s.includes(Buffer.from('CAKE-KVM-OK'))).toBe(true);
  });

  it.skipIf(missingCommands('qemu-system-x86_64'))('prints CAKE-KVM-OK under TCG (it reaches long mode)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cake-probe-'));
    writeFileSync(join(dir, 'p.img'), probeSector());
    const child = spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '32', '-nodefaults', '-display', 'none', '-serial', 'stdio', '-drive', `file=${dir}/p.img,format=raw,if=ide`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const seen = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 20_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('latin1');
        if (out.includes('CAKE-KVM-OK')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    expect(seen).toBe(true);
  });
});

describe('cake boot: the guest runner (a real process standing in for QEMU)', () => {
  const run = (script: string, extra: { watchdogSeconds?: number; expect?: string; timeoutSeconds?: number }) => {
    const said: string[] = [];
    const stdout = new PassThrough();
    let console = '';
    stdout.on('data', (c: Buffer) => (console += c.toString('utf8')));
    const stdin = new PassThrough();
    return runQemu({ qemu: 'sh', args: ['-c', script], interactive: false, stdin, stdout, stderr: new PassThrough(), say: (m) => said.push(m), ...extra }).then((o) => ({ ...o, said, console: () => console }));
  };

  it('the watchdog stops a guest that goes silent before a login prompt, with a clear message', async () => {
    const r = await run('echo booting; exec sleep 30', { watchdogSeconds: 1 });
    expect(r).toMatchObject({ code: 1, reason: 'watchdog' });
    expect(r.said.join('\n')).toMatch(/the guest printed nothing for 1 s before a login prompt: it looks hung/);
  }, 20_000);

  it('the watchdog leaves a guest alone once it shows a login prompt; --expect still ends it', async () => {
    const r = await run('echo "box login: "; sleep 3; echo DONE; exec sleep 30', { watchdogSeconds: 1, expect: 'DONE' });
    expect(r).toMatchObject({ code: 0, reason: 'expected' });
    expect(r.console()).toContain('box login:');
  }, 20_000);

  it('--timeout ends a guest that never prints TEXT', async () => {
    const r = await run('while :; do echo tick; sleep 0.2; done', { timeoutSeconds: 1, expect: 'never', watchdogSeconds: 1 });
    expect(r).toMatchObject({ code: 1, reason: 'timeout' });
    expect(r.said.join('\n')).toMatch(/"never" did not appear on the console within 1 s/);
  }, 20_000);
});
