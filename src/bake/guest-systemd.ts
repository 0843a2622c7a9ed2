/**
 * What a baked env with systemd gets, as files to add: gettys on ttyS0 and tty1 (when the env has
 * no udev, nothing would announce the tty device units the stock templates wait for, so the
 * templates are overridden in /etc without that wait), DHCP on every Ethernet NIC (systemd-networkd,
 * or ifupdown's networking.service, or cake's busybox udhcpc as cake-dhcp.service — guest-boot.ts
 * chooses), and — for OpenSSH — a unit that generates host keys at first boot, before sshd starts,
 * since keys are never baked. Enabling is done the way `systemctl enable` does it: symlinks under
 * /etc/systemd/system. Pure: the caller says which units the env has.
 */
import { CAKE_LIB, type GuestFile } from './guest-busybox.js';

/** How the image gets its network: systemd-networkd, ifupdown, or cake's busybox udhcpc (rc.net). */
export type NetPlan = 'networkd' | 'ifupdown' | 'cake';

export interface SystemdEnv {
  /** The directory holding the env's units: /lib/systemd/system or /usr/lib/systemd/system. */
  unitDir: string;
  /** Unit names present in unitDir. */
  has(unit: string): boolean;
  /** Whether a file exists in the env (absolute path). */
  exists(path: string): boolean;
  /** A file's text, or undefined. */
  read(path: string): string | undefined;
  /** The env has udev (systemd-udevd), which makes the device units gettys wait for. */
  udev: boolean;
  net: NetPlan;
}

/** A getty template without its wait for dev-%i.device (BindsTo= and the After= entry). */
export function withoutDeviceWait(unit: string): string {
  const lines = unit.split('\n').filter((l) => !/^BindsTo=dev-%i\.device\s*$/.test(l));
  return lines
    .map((l) => (/^After=/.test(l) ? l.replace(/\s*\bdev-%i\.device\b/, '').replace(/^After=\s+/, 'After=') : l))
    .filter((l) => l !== 'After=')
    .join('\n');
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
  if (env.has('getty@.service') && !env.exists(`/${ETC}/getty.target.wants/getty@tty1.service`)) enable('getty.target', 'getty@tty1.service', `${env.unitDir}/getty@.service`);
  if (!env.udev) {
    const fixed: string[] = [];
    for (const t of ['serial-getty@.service', 'getty@.service']) {
      const text = env.has(t) ? env.read(`${env.unitDir}/${t}`) : undefined;
      if (text === undefined || !text.includes('dev-%i.device')) continue;
      files.push({ path: `${ETC}/${t}`, content: `# Written by cake bake: ${env.unitDir}/${t} without its wait for dev-%i.device (the env has no udev).\n${withoutDeviceWait(text)}`, mode: 0o644 });
      fixed.push(t);
    }
    // the ESP automount systemd-gpt-auto-generator makes would wait for a device unit too
    files.push({ path: 'etc/systemd/system-generators/systemd-gpt-auto-generator', target: '/dev/null' });
    if (fixed.length > 0) notes.push(`no udev in the env: ${fixed.join(' and ')} overridden in /etc/systemd/system so the gettys do not wait for device units`);
  }

  if (env.has('kmod-static-nodes.service') && !env.exists('/bin/kmod') && !env.exists('/usr/bin/kmod')) {
    files.push({ path: `${ETC}/kmod-static-nodes.service`, target: '/dev/null' });
    notes.push('no kmod in the env: kmod-static-nodes.service is masked (it would fail at boot; systemd loads modules itself)');
  }

  if (env.net === 'cake') {
    files.push({
      path: `${ETC}/cake-dhcp.service`,
      content: [
        "# Written by cake bake: DHCP with cake's busybox udhcpc (the env has no DHCP setup that works here).",
        '[Unit]',
        'Description=DHCP on every network interface (cake)',
        'Before=network.target network-online.target',
        'Wants=network.target',
        '',
        '[Service]',
        'Type=oneshot',
        `ExecStart=/${CAKE_LIB}/rc.net`,
        'RemainAfterExit=yes',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
      mode: 0o644,
    });
    enable('multi-user.target', 'cake-dhcp.service', `/${ETC}/cake-dhcp.service`);
    enable('network-online.target', 'cake-dhcp.service', `/${ETC}/cake-dhcp.service`);
  } else if (env.net === 'networkd') {
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
  } else if (env.has('networking.service') && !env.exists(`/${ETC}/multi-user.target.wants/networking.service`)) {
    enable('multi-user.target', 'networking.service');
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
