import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's busybox-static (the `busybox` package's /bin/busybox is dynamic on some releases: check). */
export const HOST_BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

/** True when a static busybox is available to build test rootfs trees. */
export function haveBusybox(): boolean {
  if (HOST_BUSYBOX === undefined) return false;
  try {
    const out = execFileSync('file', ['-L', HOST_BUSYBOX], { encoding: 'utf8' });
    return /statically linked|static-pie/.test(out);
  } catch {
    // no `file`: trust it and let the test fail loudly if it is dynamic
    return true;
  }
}

/** The guest's users: root's GECOS differs from any host's, so a test can tell guest from host. */
export const GUEST_PASSWD = [
  'root:x:0:0:cake guest root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'cakeuser:x:1234:1234:Cake User:/home/cakeuser:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');

export const GUEST_GROUP = ['root:x:0:', 'daemon:x:1:', 'cakeusers:x:1234:', 'nogroup:x:65534:', ''].join('\n');

export interface BusyboxRootfs {
  /** Absolute path of the rootfs (a fresh directory). */
  root: string;
  /** Removes the rootfs (and its parent temp dir when the helper created it). */
  cleanup(): void;
}

/**
 * Builds a minimal rootfs from the host's static busybox: /bin/busybox plus one symlink per applet
 * (`busybox --list`) in /bin, /usr/bin/env, etc/passwd and etc/group (see GUEST_PASSWD), and the
 * directories root, home/cakeuser, tmp (1777), dev, proc, sys, etc. No /etc/resolv.conf and no
 * /etc/hosts, so tests see what cake supplies. `dir` must not exist yet; default: a new temp dir.
 */
export function createBusyboxRootfs(dir?: string): BusyboxRootfs {
  if (HOST_BUSYBOX === undefined) throw new Error('busybox is not installed (apt-get install busybox-static)');
  const parent = dir === undefined ? mkdtempSync(join(tmpdir(), 'cake-bb-')) : undefined;
  const root = dir ?? join(parent!, 'rootfs');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'home/cakeuser', 'dev', 'proc', 'sys', 'var/tmp']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync(HOST_BUSYBOX, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  const applets = execFileSync(HOST_BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  symlinkSync('../../bin/busybox', join(root, 'usr/bin/env'));
  writeFileSync(join(root, 'etc/passwd'), GUEST_PASSWD);
  writeFileSync(join(root, 'etc/group'), GUEST_GROUP);
  writeFileSync(join(root, 'etc/os-release'), 'ID=cake-busybox\nNAME="cake test rootfs"\n');
  return {
    root,
    cleanup() {
      execFileSync('chmod', ['-R', 'u+rwX', parent ?? root]);
      rmSync(parent ?? root, { recursive: true, force: true });
    },
  };
}
