/**
 * What a baked env with systemd gets, as files to add: a serial getty on ttyS0, systemd-networkd
 * with DHCP on every Ethernet NIC (or ifupdown when networkd is absent), and — for OpenSSH — a
 * unit that generates host keys at first boot, before sshd starts, since keys are never baked.
 * Enabling is done the way `systemctl enable` does it: symlinks under /etc/systemd/system.
 * Pure: the caller says which units the env has.
 */
import type { GuestFile } from './guest-busybox.js';

export interface SystemdEnv {
  /** The directory holding the env's units: /lib/systemd/system or /usr/lib/systemd/system. */
  unitDir: string;
  /** Unit names present in unitDir. */
  has(unit: string): boolean;
  /** Whether a file exists in the env (absolute path). */
  exists(path: string): boolean;
}

const ETC = 'etc/systemd/system';

export function systemdSystem(env: SystemdEnv): { files: GuestFile[]; notes: string[] } {
  const files: GuestFile[] = [];
  const notes: string[] = [];
  const enable = (wantedBy: string, unit: string, from = `${env.unitDir}/${unit}`): void => {
    files.push({ path: `${ETC}/${wantedBy}.wants/${unit}`, target: from });
  };
  if (env.has('serial-getty@.service')) enable('getty.target', 'serial-getty@ttyS0.service', `${env.unitDir}/serial-getty@.service`);
  else notes.push('no serial-getty@.service in the env: no login prompt on the serial console');

  if (env.has('systemd-networkd.service')) {
    files.push({
      path: 'etc/systemd/network/80-cake-dhcp.network',
      content: '# Written by cake bake: DHCP on every Ethernet interface.\n[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=yes\n',
      mode: 0o644,
    });
    enable('multi-user.target', 'systemd-networkd.service');
    if (env.has('systemd-networkd.socket')) enable('sockets.target', 'systemd-networkd.socket');
    files.push({ path: `${ETC}/dbus-org.freedesktop.network1.service`, target: `${env.unitDir}/systemd-networkd.service` });
    if (env.has('systemd-resolved.service')) {
      enable('multi-user.target', 'systemd-resolved.service');
      files.push({ path: `${ETC}/dbus-org.freedesktop.resolve1.service`, target: `${env.unitDir}/systemd-resolved.service` });
    }
  } else if (env.exists('/sbin/ifup') || env.exists('/usr/sbin/ifup')) {
    files.push({ path: 'etc/network/interfaces.d/cake-eth0', content: '# Written by cake bake.\nallow-hotplug eth0\niface eth0 inet dhcp\n', mode: 0o644 });
  } else {
    notes.push('neither systemd-networkd nor ifupdown in the env: networking is not configured');
  }

  const sshUnit = env.has('ssh.service') ? 'ssh.service' : env.has('sshd.service') ? 'sshd.service' : undefined;
  if (sshUnit !== undefined) {
    files.push({
      path: `${ETC}/cake-ssh-host-keys.service`,
      content: [
        '# Written by cake bake: SSH host keys are generated on the first boot, never baked into the image.',
        '[Unit]',
        'Description=Generate SSH host keys',
        'ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key',
        `Before=${sshUnit}${env.has('ssh.socket') ? ' ssh.socket' : ''}`,
        '',
        '[Service]',
        'Type=oneshot',
        'ExecStart=/usr/bin/ssh-keygen -A',
        'RemainAfterExit=yes',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
      mode: 0o644,
    });
    enable('multi-user.target', 'cake-ssh-host-keys.service', `/${ETC}/cake-ssh-host-keys.service`);
    files.push({
      path: `${ETC}/${sshUnit}.d/cake-host-keys.conf`,
      content: '# Written by cake bake.\n[Unit]\nWants=cake-ssh-host-keys.service\nAfter=cake-ssh-host-keys.service\n',
      mode: 0o644,
    });
    if (!env.exists(`/${ETC}/multi-user.target.wants/${sshUnit}`) && !env.exists(`/${ETC}/sockets.target.wants/ssh.socket`)) {
      enable('multi-user.target', sshUnit);
    }
  }
  return { files, notes };
}
