/**
 * A baked env whose own init reads /etc/inittab — sysvinit (with its rc scripts or OpenRC) or a
 * busybox init with the env's inittab. The env's inittab is kept as it is, with the user's edits
 * (a recipe's `sed -i 's/#T0/T0/' /etc/inittab` stays in effect); cake only adds what is missing:
 * a getty on ttyS0 and on tty1 when no active line runs one there, and one `sysinit` line, after
 * the env's own, that runs /usr/lib/cake/rc.sysv: the mounts the env's sysinit did not make, SSH host keys made on the first boot (before the
 * runlevel's scripts start sshd; keys are never baked), cake's DHCP client when the env has none
 * set up, and sshd itself when the env has no init script to start it. Pure text.
 */
import { CAKE_LIB, MOUNTS, type GuestFile } from './guest-busybox.js';
import type { NetPlan } from './guest-systemd.js';

export interface SysvEnv {
  inittab: string;
  /** busybox init's syntax (`tty::action:process`) rather than sysvinit's (`id:runlevels:action:process`). */
  busyboxSyntax: boolean;
  /** The env's getty (agetty or getty); cake's busybox getty when absent. */
  getty?: string;
  net: NetPlan;
  sshd?: 'openssh' | 'dropbear';
  /** The env has an init script that starts its SSH server. */
  startsSshd: boolean;
}

/** Whether an active (not commented) respawn line of `inittab` runs on `tty`. */
export function hasGettyOn(inittab: string, tty: string): boolean {
  const word = new RegExp(`\\b${tty}\\b`);
  return inittab.split('\n').some((l) => !/^\s*#/.test(l) && /:respawn:/.test(l) && word.test(l));
}

export function sysvSystem(env: SysvEnv): { files: GuestFile[]; notes: string[] } {
  const bb = `/${CAKE_LIB}/busybox`;
  const getty = env.getty ?? `${bb} getty`;
  const added: string[] = [];
  const lines: string[] = [];
  const entry = (id: string, runlevels: string, action: string, process: string): string => (env.busyboxSyntax ? `${id}::${action}:${process}` : `${id}:${runlevels}:${action}:${process}`);
  const rc = `/${CAKE_LIB}/rc.sysv`;
  lines.push(entry(env.busyboxSyntax ? '' : 'ck', '', 'sysinit', rc));
  if (!hasGettyOn(env.inittab, 'ttyS0')) {
    lines.push(entry(env.busyboxSyntax ? 'ttyS0' : 'T0', '2345', 'respawn', `${getty} -L 115200 ttyS0 vt100`));
    added.push('a getty on ttyS0');
  }
  if (!hasGettyOn(env.inittab, 'tty1')) {
    lines.push(entry(env.busyboxSyntax ? 'tty1' : '1', '2345', 'respawn', `${getty} 38400 tty1`));
    added.push('a getty on tty1');
  }
  const base = env.inittab.endsWith('\n') || env.inittab === '' ? env.inittab : `${env.inittab}\n`;
  const inittab = `${base}\n# Added by cake bake (the lines above are the env's own).\n${lines.join('\n')}\n`;
  const ssh =
    env.sshd === 'openssh'
      ? `# host keys are made on the first boot: they are never baked into the image
[ -x /usr/bin/ssh-keygen ] && /usr/bin/ssh-keygen -A
${env.startsSshd ? '' : '$bb mkdir -p /run/sshd\n/usr/sbin/sshd\n'}`
      : env.sshd === 'dropbear' && !env.startsSshd
        ? '$bb mkdir -p /etc/dropbear\n/usr/sbin/dropbear -R\n'
        : '';
  const script = `#!${bb} sh
# Written by cake bake: run once at boot, after the env's own sysinit.
bb=${bb}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# what the env's own sysinit did not mount (an inittab whose rc system is missing)
${MOUNTS}${ssh}${env.net === 'cake' ? `/${CAKE_LIB}/rc.net\n` : ''}exit 0
`;
  const notes = added.length > 0 ? [`kept the env's /etc/inittab and added ${added.join(' and ')}`] : [];
  return {
    files: [
      { path: 'etc/inittab', content: inittab, mode: 0o644 },
      { path: `${CAKE_LIB}/rc.sysv`, content: script, mode: 0o755 },
    ],
    notes,
  };
}
