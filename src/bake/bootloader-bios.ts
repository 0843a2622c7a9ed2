/**
 * Legacy BIOS boot: syslinux in the FAT boot partition — installed with Debian's mtools build of
 * `syslinux --install`, which works on an unmounted image file — reading syslinux.cfg, and
 * syslinux's gptmbr.bin (from the archive's syslinux-common) as the MBR boot code, which starts
 * the partition marked "legacy BIOS bootable".
 */
import type { ToolRunner } from './tools.js';

export const GPTMBR_PATHS = ['/usr/lib/syslinux/mbr/gptmbr.bin', '/usr/lib/SYSLINUX/gptmbr.bin'];

/** syslinux.cfg: no menu, no prompt, output on the serial port too. */
export function syslinuxConfig(cmdline: string): string {
  return ['SERIAL 0 115200', 'DEFAULT cake', 'PROMPT 0', 'LABEL cake', '  LINUX /vmlinuz', '  INITRD /initrd.img', `  APPEND ${cmdline}`, ''].join('\n');
}

/** Installs syslinux's boot sector, ldlinux.sys and ldlinux.c32 into the FAT filesystem at byte `offset` of the disk image. */
export async function installSyslinux(tools: ToolRunner, image: string, offset: number, mtoolsEnv: Record<string, string>): Promise<void> {
  await tools.run('syslinux', ['--offset', String(offset), '--install', image], { what: 'installing syslinux (BIOS boot)', env: mtoolsEnv });
}

/** The 440 bytes of MBR boot code from gptmbr.bin. */
export function mbrBootCode(gptmbr: Buffer): Buffer {
  return gptmbr.subarray(0, 440);
}
