import { join, resolve } from 'node:path';
import { runQemu } from '../../boot/boot-run.js';
import { extractBootFiles, inspectImage, readImageFacts } from '../../boot/image-inspect.js';
import { chooseAccel, type AccelChoice } from '../../boot/kvm-probe.js';
import { findOvmf, freePort, qemuArgs, userChoosesFirmware, type Firmware } from '../../boot/qemu.js';
import { createToolRunner } from '../../bake/tools.js';
import { makeWorkDir } from '../../bake/work-dir.js';
import { removeTree } from '../../archive/remove-tree.js';
import { CakeError, UsageError } from '../../model/errors.js';
import { findHostProgram } from '../../run/host-tools.js';
import type { CliContext } from '../context.js';

/**
 * `cake boot IMAGE [--expect TEXT] [--timeout SECONDS] [--watchdog SECONDS] [--memory MiB] [-- QEMU ARGS]`:
 * the serial console on this terminal (raw, Ctrl-A X quits, as with `qemu -nographic`) whenever
 * stdin is a terminal, or copied to stdout for scripts; the SSH forward is printed only when the
 * image has an SSH server (or cannot say: not a cake image).
 */
export async function bootCommand(ctx: CliContext, args: string[], opts: Record<string, unknown>): Promise<number> {
  const [imageArg, ...extra] = args;
  if (!imageArg) throw new UsageError('boot needs an IMAGE', 'cake boot IMAGE; see `cake help boot`');
  const expect = typeof opts.expect === 'string' ? opts.expect : undefined;
  if (expect === '') throw new UsageError('--expect needs a non-empty TEXT');
  const timeout = opts.timeout === undefined ? (expect !== undefined ? 300 : undefined) : Number(opts.timeout);
  if (timeout !== undefined && (!Number.isFinite(timeout) || timeout <= 0)) throw new UsageError(`invalid --timeout '${String(opts.timeout)}'`, 'give a number of seconds');
  const watchdog = opts.watchdog === undefined ? 300 : Number(opts.watchdog);
  if (!Number.isFinite(watchdog) || watchdog < 0) throw new UsageError(`invalid --watchdog '${String(opts.watchdog)}'`, 'give a number of seconds (0 turns the watchdog off)');
  const memory = opts.memory === undefined ? 1024 : Number(opts.memory);
  if (!Number.isInteger(memory) || memory < 64) throw new UsageError(`invalid --memory '${String(opts.memory)}'`, 'give MiB, at least 64 (default 1024)');
  const image = resolve(imageArg);
  const tools = createToolRunner(ctx.env);
  const qemu = await tools.find('qemu-system-x86_64');
  const work = await makeWorkDir(ctx.paths.tmp, 'boot');
  try {
    const info = await inspectImage(image, tools, work);
    const firmware = pickFirmware(ctx, info, extra, work);
    const accel = await pickAccel(ctx, qemu, work, () => extractBootFiles(image, info, tools, join(work, 'boot-files')));
    const sshPort = await freePort();
    const facts = await readImageFacts(image, info, tools, join(work, 'facts'));
    const interactive = Boolean(process.stdin.isTTY);
    const fwText = firmware.kind === 'bios' ? 'BIOS (SeaBIOS)' : firmware.kind === 'user' ? 'firmware from your QEMU arguments' : 'EFI (OVMF)';
    ctx.logger.info(`cake boot: ${imageArg} (${info.format}) with ${fwText}, ${accel.accel === 'kvm' ? 'KVM' : 'TCG'}: ${accel.reason}`);
    if (facts?.ssh !== false) ctx.logger.info(`cake boot: ssh -p ${sshPort} root@127.0.0.1  (port ${sshPort} is the guest's port 22${facts === undefined ? ', if it runs an SSH server' : ''})`);
    if (interactive) ctx.logger.info('cake boot: the serial console is this terminal; Ctrl-A X stops the guest');
    const argv = qemuArgs({ image, format: info.format, firmware, accel: accel.accel, memory, sshPort, interactive, extra });
    ctx.logger.debug(`${qemu} ${argv.join(' ')}`);
    const setpriv = await findHostProgram('setpriv', ctx.env);
    const out = await runQemu({
      qemu,
      args: argv,
      ...(setpriv ? { setpriv } : {}),
      interactive,
      ...(expect !== undefined ? { expect } : {}),
      ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
      ...(watchdog > 0 ? { watchdogSeconds: watchdog } : {}),
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      say: (m) => ctx.logger.info(`cake boot: ${m}`),
    });
    return out.code;
  } finally {
    await removeTree(work);
  }
}

function pickFirmware(ctx: CliContext, info: { bios: boolean; efi: boolean }, extra: readonly string[], work: string): Firmware {
  if (userChoosesFirmware(extra)) return { kind: 'user' };
  const wanted = ctx.env.CAKE_BOOT_FIRMWARE;
  if (wanted !== undefined && wanted !== '' && wanted !== 'bios' && wanted !== 'efi') throw new UsageError(`CAKE_BOOT_FIRMWARE=${wanted}: give bios or efi`);
  const ovmf = (): Firmware => {
    const f = findOvmf(work);
    if (f === undefined) throw new CakeError('missing-tool', 'EFI boot needs OVMF, which is not installed', { hint: 'install the ovmf package (apt-get install ovmf)' });
    return f;
  };
  if (wanted === 'bios') {
    if (!info.bios) throw new CakeError('bake', 'the image cannot boot with BIOS', { hint: 'bake it with --boot bios or --boot both' });
    return { kind: 'bios' };
  }
  if (wanted === 'efi') {
    if (!info.efi) throw new CakeError('bake', 'the image cannot boot with EFI', { hint: 'bake it with --boot efi or --boot both' });
    return ovmf();
  }
  // Both: EFI when the host has OVMF (the modern path), BIOS otherwise.
  if (info.efi) {
    const f = findOvmf(work);
    if (f !== undefined) return f;
    if (!info.bios) return ovmf();
  }
  if (info.bios) return { kind: 'bios' };
  throw new CakeError('bake', 'the image has neither BIOS boot code nor an EFI system partition', { hint: 'give an image made by cake bake' });
}

async function pickAccel(ctx: CliContext, qemu: string, work: string, kernel: () => Promise<{ vmlinuz: string; initrd: string } | undefined>): Promise<AccelChoice> {
  const forced = ctx.env.CAKE_BOOT_ACCEL;
  if (forced === 'tcg') return { accel: 'tcg', reason: 'CAKE_BOOT_ACCEL=tcg' };
  if (forced === 'kvm') return { accel: 'kvm', reason: 'CAKE_BOOT_ACCEL=kvm' };
  if (forced !== undefined && forced !== '' && forced !== 'auto') throw new UsageError(`CAKE_BOOT_ACCEL=${forced}: give kvm, tcg or auto`);
  return chooseAccel({ qemu, cacheDir: join(ctx.paths.cache, 'boot'), workDir: work, kernel });
}
