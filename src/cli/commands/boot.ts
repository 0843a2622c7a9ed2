import { bootImage } from '../../boot/boot.js';
import type { AccelChoice } from '../../boot/kvm-probe.js';
import { UsageError } from '../../model/errors.js';
import type { CliContext } from '../context.js';
import type { CommandOptions } from '../command-types.js';

/** CAKE_BOOT_FIRMWARE: bios, efi or unset. */
function firmwareFromEnv(ctx: CliContext): 'bios' | 'efi' | undefined {
  const wanted = ctx.env.CAKE_BOOT_FIRMWARE;
  if (wanted === undefined || wanted === '') return undefined;
  if (wanted !== 'bios' && wanted !== 'efi') throw new UsageError(`CAKE_BOOT_FIRMWARE=${wanted}: give bios or efi`);
  return wanted;
}

/** CAKE_BOOT_ACCEL: kvm or tcg forces one; auto or unset probes. */
function accelFromEnv(ctx: CliContext): AccelChoice | undefined {
  const forced = ctx.env.CAKE_BOOT_ACCEL;
  if (forced === 'tcg' || forced === 'kvm') return { accel: forced, reason: `CAKE_BOOT_ACCEL=${forced}` };
  if (forced !== undefined && forced !== '' && forced !== 'auto') throw new UsageError(`CAKE_BOOT_ACCEL=${forced}: give kvm, tcg or auto`);
  return undefined;
}

/**
 * `cake boot IMAGE [--expect TEXT] [--timeout SECONDS] [--watchdog SECONDS] [--memory MiB] [-- QEMU ARGS]`:
 * the serial console on this terminal (raw, Ctrl-A X quits, as with `qemu -nographic`) whenever
 * stdin is a terminal, or copied to stdout for scripts; the SSH forward is printed only when the
 * image has an SSH server (or cannot say: not a cake image).
 */
export async function bootCommand(ctx: CliContext, args: string[], opts: CommandOptions<'boot'>): Promise<number> {
  const [imageArg, ...extra] = args;
  if (!imageArg) throw new UsageError('boot needs an IMAGE', 'cake boot IMAGE; see `cake help boot`');
  const expect = opts.expect;
  if (expect === '') throw new UsageError('--expect needs a non-empty TEXT');
  const timeout = opts.timeout === undefined ? (expect !== undefined ? 300 : undefined) : Number(opts.timeout);
  if (timeout !== undefined && (!Number.isFinite(timeout) || timeout <= 0)) throw new UsageError(`invalid --timeout '${String(opts.timeout)}'`, 'give a number of seconds');
  const watchdog = opts.watchdog === undefined ? 300 : Number(opts.watchdog);
  if (!Number.isFinite(watchdog) || watchdog < 0) throw new UsageError(`invalid --watchdog '${String(opts.watchdog)}'`, 'give a number of seconds (0 turns the watchdog off)');
  const memory = opts.memory === undefined ? 1024 : Number(opts.memory);
  if (!Number.isInteger(memory) || memory < 64) throw new UsageError(`invalid --memory '${String(opts.memory)}'`, 'give MiB, at least 64 (default 1024)');
  const firmware = firmwareFromEnv(ctx);
  const accel = accelFromEnv(ctx);
  return bootImage(
    { paths: ctx.paths, logger: ctx.logger, hostEnv: ctx.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    {
      image: imageArg,
      label: imageArg,
      extra,
      ...(expect !== undefined ? { expect } : {}),
      ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
      watchdogSeconds: watchdog,
      memoryMiB: memory,
      ...(firmware ? { firmware } : {}),
      ...(accel ? { accel } : {}),
    },
  );
}
