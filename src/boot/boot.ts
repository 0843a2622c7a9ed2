/**
 * `cake boot`'s use case: an image → QEMU. Inspects the image (format, BIOS boot code, an EFI
 * system partition, cake's image facts), picks the firmware (the QEMU arguments' own, else the one
 * asked for, else EFI when OVMF is installed and BIOS otherwise) and the accelerator (KVM only when
 * it really boots, see kvm-probe.ts), then runs QEMU with the serial console on the given streams.
 * Everything it unpacks goes to a work dir in the store's tmp area, removed at the end.
 */
import type { Writable } from 'node:stream';
import { join, resolve } from 'node:path';
import { removeTree } from '../archive/remove-tree.js';
import { createToolRunner } from '../bake/tools.js';
import { makeWorkDir } from '../bake/work-dir.js';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { findHostProgram } from '../run/host-tools.js';
import type { CakePaths } from '../store/paths.js';
import { runQemu, type RunOptions } from './boot-run.js';
import { extractBootFiles, inspectImage, readImageFacts, type ImageInfo } from './image-inspect.js';
import { chooseAccel, type AccelChoice } from './kvm-probe.js';
import { findOvmf, freePort, qemuArgs, userChoosesFirmware, type Firmware } from './qemu.js';

export interface BootDeps {
  paths: CakePaths;
  logger: Logger;
  /** The host environment (PATH to find QEMU and its tools). */
  hostEnv: Record<string, string | undefined>;
  stdin: RunOptions['stdin'];
  stdout: Writable;
  stderr: Writable;
}

export interface BootRequest {
  image: string;
  /** The image as the user named it, for messages. */
  label: string;
  /** Extra QEMU arguments (after `--`). */
  extra: string[];
  expect?: string;
  timeoutSeconds?: number;
  /** 0 turns the watchdog off. */
  watchdogSeconds: number;
  memoryMiB: number;
  /** The firmware asked for; default: EFI when the image and host can, BIOS otherwise. */
  firmware?: 'bios' | 'efi';
  /** A forced accelerator with its reason; default: probe. */
  accel?: AccelChoice;
}

/** Boots the image; resolves to cake's exit code (0 when `expect` was seen or the guest powered off). */
export async function bootImage(deps: BootDeps, req: BootRequest): Promise<number> {
  const image = resolve(req.image);
  const tools = createToolRunner(deps.hostEnv);
  const qemu = await tools.find('qemu-system-x86_64');
  const work = await makeWorkDir(deps.paths.tmp, 'boot');
  try {
    const info = await inspectImage(image, tools, work);
    const firmware = pickFirmware(info, req.extra, req.firmware, work);
    const accel = req.accel ?? (await chooseAccel({ qemu, cacheDir: join(deps.paths.cache, 'boot'), workDir: work, kernel: () => extractBootFiles(image, info, tools, join(work, 'boot-files')) }));
    const sshPort = await freePort();
    const facts = await readImageFacts(image, info, tools, join(work, 'facts'));
    const interactive = Boolean(deps.stdin.isTTY);
    const fwText = firmware.kind === 'bios' ? 'BIOS (SeaBIOS)' : firmware.kind === 'user' ? 'firmware from your QEMU arguments' : 'EFI (OVMF)';
    const say = (m: string): void => deps.logger.info(`cake boot: ${m}`);
    say(`${req.label} (${info.format}) with ${fwText}, ${accel.accel === 'kvm' ? 'KVM' : 'TCG'}: ${accel.reason}`);
    if (facts?.ssh !== false) say(`ssh -p ${sshPort} root@127.0.0.1  (port ${sshPort} is the guest's port 22${facts === undefined ? ', if it runs an SSH server' : ''})`);
    if (interactive) say('the serial console is this terminal; Ctrl-A X stops the guest');
    const argv = qemuArgs({ image, format: info.format, firmware, accel: accel.accel, memory: req.memoryMiB, sshPort, interactive, extra: req.extra });
    deps.logger.debug(`${qemu} ${argv.join(' ')}`);
    const setpriv = await findHostProgram('setpriv', deps.hostEnv);
    const out = await runQemu({
      qemu,
      args: argv,
      ...(setpriv ? { setpriv } : {}),
      interactive,
      ...(req.expect !== undefined ? { expect: req.expect } : {}),
      ...(req.timeoutSeconds !== undefined ? { timeoutSeconds: req.timeoutSeconds } : {}),
      ...(req.watchdogSeconds > 0 ? { watchdogSeconds: req.watchdogSeconds } : {}),
      stdin: deps.stdin,
      stdout: deps.stdout,
      stderr: deps.stderr,
      say,
    });
    return out.code;
  } finally {
    await removeTree(work);
  }
}

function pickFirmware(info: Pick<ImageInfo, 'bios' | 'efi'>, extra: readonly string[], wanted: 'bios' | 'efi' | undefined, work: string): Firmware {
  if (userChoosesFirmware(extra)) return { kind: 'user' };
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
