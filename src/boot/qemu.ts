/**
 * The QEMU command line of `cake boot` (pure) and the host facts it needs: the firmware (SeaBIOS,
 * QEMU's default, or OVMF for EFI from Debian's ovmf package or its equivalents), a free TCP port
 * for SSH. The guest gets a virtio disk, a virtio NIC on user-mode networking with the guest's
 * port 22 forwarded to 127.0.0.1:PORT, and its serial console on QEMU's stdio.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export type Firmware = { kind: 'bios' } | { kind: 'efi'; code: string; vars: string } | { kind: 'efi-bios'; file: string } | { kind: 'user' };

export interface QemuPlan {
  image: string;
  format: 'raw' | 'qcow2';
  firmware: Firmware;
  accel: 'kvm' | 'tcg';
  memory: number;
  sshPort: number;
  /** Serial and monitor multiplexed on stdio (Ctrl-A X quits, Ctrl-A C the monitor). */
  interactive: boolean;
  /** Passed through at the end. */
  extra: readonly string[];
}

const OVMF_PAIRS: Array<[string, string]> = [
  ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd'],
  ['/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'],
  ['/usr/share/edk2/ovmf/OVMF_CODE.fd', '/usr/share/edk2/ovmf/OVMF_VARS.fd'],
  ['/usr/share/edk2/x64/OVMF_CODE.4m.fd', '/usr/share/edk2/x64/OVMF_VARS.4m.fd'],
  ['/usr/share/edk2-ovmf/x64/OVMF_CODE.fd', '/usr/share/edk2-ovmf/x64/OVMF_VARS.fd'],
];
const OVMF_SINGLE = ['/usr/share/ovmf/OVMF.fd', '/usr/share/qemu/OVMF.fd'];

/** OVMF on this host: split code/vars (the vars copied to `workDir`, writable) or one file for -bios. */
export function findOvmf(workDir: string, exists: (p: string) => boolean = existsSync): Firmware | undefined {
  for (const [code, vars] of OVMF_PAIRS) {
    if (exists(code) && exists(vars)) {
      const copy = join(workDir, 'OVMF_VARS.fd');
      if (exists === existsSync) copyFileSync(vars, copy);
      return { kind: 'efi', code, vars: copy };
    }
  }
  const single = OVMF_SINGLE.find((p) => exists(p));
  return single === undefined ? undefined : { kind: 'efi-bios', file: single };
}

/** True when the user's own arguments choose the firmware or the machine. */
export function userChoosesFirmware(extra: readonly string[]): boolean {
  return extra.some((a, i) => a === '-bios' || a === '-pflash' || (a === '-drive' && /if=pflash/.test(extra[i + 1] ?? '')));
}

export function qemuArgs(p: QemuPlan): string[] {
  const userMachine = p.extra.some((a) => a === '-M' || a === '-machine');
  const args = ['-name', 'cake', '-accel', p.accel, '-m', String(p.memory), '-smp', '2'];
  if (!userMachine) args.push('-machine', p.firmware.kind === 'efi' ? 'q35' : 'pc');
  if (p.firmware.kind === 'efi') {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${optValue(p.firmware.code)}`, '-drive', `if=pflash,format=raw,unit=1,file=${optValue(p.firmware.vars)}`);
  } else if (p.firmware.kind === 'efi-bios') {
    args.push('-bios', p.firmware.file);
  }
  args.push(
    '-drive', `file=${optValue(p.image)},format=${p.format},if=virtio`,
    '-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${p.sshPort}-:22`,
    '-device', 'virtio-net-pci,netdev=net0',
    '-display', 'none',
    '-vga', 'none',
  );
  if (p.interactive) args.push('-serial', 'mon:stdio');
  else args.push('-serial', 'stdio', '-monitor', 'none');
  args.push(...p.extra);
  return args;
}

/** A value inside a QEMU option list: commas are doubled. */
function optValue(v: string): string {
  return v.replace(/,/g, ',,');
}

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
