/**
 * Whether KVM really works here. /dev/kvm can exist and still not run a guest (nested
 * virtualisation that hangs after the firmware, a CPU model QEMU cannot set up), so cake tries:
 * 1. a boot sector that goes from real mode to long mode and prints CAKE-KVM-OK on the serial
 *    port (a second at most when KVM works);
 * 2. when a kernel is at hand (the image's own, for images made by cake), that kernel with the
 *    initramfs in probe mode, which must print CAKE-PROBE-OK.
 * Each step has a short timeout. The answer is cached per QEMU binary, host kernel, boot and user,
 * so the cost is paid once.
 */
import { writeFileAtomic } from '../store/atomic-write.js';
import { spawn } from 'node:child_process';
import { constants, accessSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

/**
 * The probe boot sector: 211 bytes of code, then 0x55AA at 510. Assembled (GNU as, .code16 at
 * 0x7c00) from:
 *   cli; zero ds/es/ss; sp = 0x7c00; lgdt gdtr; cr0.PE = 1; ljmp 0x08:pm
 *   pm (32-bit): ds/es/ss = 0x10; clear 12 KiB at 0x1000; PML4[0] = 0x2003, PDPT[0] = 0x3003,
 *     PD[0] = 0x83 (one identity-mapped 2 MiB page); cr3 = 0x1000; cr4.PAE = 1;
 *     EFER (MSR 0xC0000080) |= LME; cr0.PG = 1; ljmp 0x18:lm
 *   lm (64-bit): esi = msg; dx = 0x3f8; out each byte of msg to COM1; hlt loop
 *   gdt: null, 32-bit code 0x00cf9a000000ffff, data 0x00cf92000000ffff, 64-bit code 0x00af9a000000ffff
 *   msg: "CAKE-KVM-OK\r\n"
 */
const PROBE_CODE = [
  'fa31c08ed88ec08ed0bc007c0f0116c07c0f20c06683c8010f22c0ea207c080066b810008ed88ec08ed0bf0010000031',
  'c0b9000c0000f3abc7050010000003200000c7050020000003300000c7050030000083000000b8001000000f22d80f20',
  'e083c8200f22e0b9800000c00f320d000100000f300f20c00d000000800f22c0ea877c00001800bec67c000066baf803',
  'ac84c07403eeebf8f4ebfd0f1f4400000000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf00',
  '1f00a07c000043414b452d4b564d2d4f4b0d0a',
].join('');

export function probeSector(): Buffer {
  const b = Buffer.alloc(512);
  Buffer.from(PROBE_CODE, 'hex').copy(b);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  /** Why, for the message on stderr. */
  reason: string;
}

interface ProbeCache {
  key: string;
  sector: boolean;
  kernel?: boolean;
  detail: string;
}

export interface ProbeDeps {
  qemu: string;
  cacheDir: string;
  workDir: string;
  /** The kernel to probe with, if any. */
  kernel?: () => Promise<{ vmlinuz: string; initrd: string } | undefined>;
  /** Seconds per probe boot (default 6 for the sector, 20 for the kernel). */
  timeouts?: { sector: number; kernel: number };
  kvmDevice?: string;
}

/** KVM when it passes the probes (or a cached pass), TCG otherwise, with the reason. */
export async function chooseAccel(d: ProbeDeps): Promise<AccelChoice> {
  const dev = d.kvmDevice ?? '/dev/kvm';
  try {
    accessSync(dev, constants.R_OK | constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { accel: 'tcg', reason: code === 'ENOENT' ? `${dev} does not exist` : `${dev} is not accessible to this user` };
  }
  const file = join(d.cacheDir, 'kvm-probe.json');
  const key = cacheKey(d.qemu);
  let cache: ProbeCache | undefined;
  try {
    cache = JSON.parse(readFileSync(file, 'utf8')) as ProbeCache;
    if (cache.key !== key) cache = undefined;
  } catch {
    cache = undefined;
  }
  const t = d.timeouts ?? { sector: 6, kernel: 20 };
  if (cache === undefined) {
    const img = join(d.workDir, 'kvm-probe.img');
    writeFileSync(img, probeSector());
    const ok = await probeBoot(d.qemu, ['-drive', `file=${img},format=raw,if=ide`], 'CAKE-KVM-OK', t.sector);
    cache = { key, sector: ok, detail: ok ? 'passed the long-mode probe' : `a probe guest printed nothing within ${t.sector} s` };
    save(file, cache);
  }
  if (!cache.sector) return { accel: 'tcg', reason: `KVM does not run guests here (${cache.detail}; cached)` };
  if (cache.kernel === undefined && d.kernel !== undefined) {
    const k = await d.kernel();
    if (k !== undefined) {
      const ok = await probeBoot(d.qemu, ['-kernel', k.vmlinuz, '-initrd', k.initrd, '-append', 'console=ttyS0 cake.probe panic=-1'], 'CAKE-PROBE-OK', t.kernel);
      cache = { ...cache, kernel: ok, detail: ok ? 'a kernel booted' : `a kernel did not reach its init within ${t.kernel} s` };
      save(file, cache);
    }
  }
  if (cache.kernel === false) return { accel: 'tcg', reason: `KVM does not boot kernels here (${cache.detail}; cached)` };
  return { accel: 'kvm', reason: cache.detail };
}

function cacheKey(qemu: string): string {
  let bootId = '';
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not Linux /proc: the other parts still tell machines apart
  }
  const st = statSync(qemu);
  return createHash('sha256').update([qemu, st.size, st.mtimeMs, osRelease(), bootId, process.getuid?.() ?? ''].join('\0')).digest('hex');
}

function save(file: string, c: ProbeCache): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileAtomic(file, JSON.stringify(c) + '\n');
}

/** Runs a KVM guest until `marker` appears on its serial port (true) or `seconds` pass (false). */
export function probeBoot(qemu: string, args: string[], marker: string, seconds: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(qemu, ['-accel', 'kvm', '-m', '256', '-nodefaults', '-display', 'none', '-serial', 'stdio', '-no-reboot', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), seconds * 1000);
    child.stdout.on('data', (c: Buffer) => {
      seen = (seen + c.toString('latin1')).slice(-4096);
      if (seen.includes(marker)) finish(true);
    });
    child.on('error', () => finish(false));
    child.on('close', () => finish(seen.includes(marker)));
  });
}
