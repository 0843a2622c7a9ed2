/**
 * Fixtures of the cook tests: a busybox rootfs tarball (from the host's busybox-static) and small
 * Debian trees made with mmdebstrap (extract variant, merged /usr) from deb.debian.org, cached in
 * test/.cache/cook/ so that only the first run downloads.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_CACHE } from '../../helpers/cli.js';
import { createBusyboxRootfs } from '../../helpers/busybox-rootfs.js';

export const COOK_CACHE = join(TEST_CACHE, 'cook');

function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** A gzip tarball of the busybox test rootfs (with passwd and group), made once per run in `dir`. */
export function busyboxTarball(dir: string): string {
  const out = join(dir, 'busybox-rootfs.tar.gz');
  if (existsSync(out)) return out;
  const bb = createBusyboxRootfs(join(dir, 'bb-rootfs'));
  execFileSync('tar', ['-C', bb.root, '--owner=0', '--group=0', '-czf', out, '.']);
  bb.cleanup();
  return out;
}

const DEBIAN: Record<string, { suite: string; include: string }> = {
  'bookworm-bash': { suite: 'bookworm', include: 'dash,coreutils,bash' },
  'trixie-jq': { suite: 'trixie', include: 'jq' },
};

/** A cached Debian tree as a tarball, or undefined when mmdebstrap or the archive is unavailable. */
export function debianTarball(name: keyof typeof DEBIAN): string | undefined {
  const out = join(COOK_CACHE, `${name}.tar.gz`);
  if (existsSync(out)) return out;
  if (!have('mmdebstrap')) return undefined;
  mkdirSync(COOK_CACHE, { recursive: true });
  const { suite, include } = DEBIAN[name]!;
  const tmp = `${out}.${process.pid}.tmp.tar.gz`;
  const r = spawnSync(
    'mmdebstrap',
    ['--quiet', '--variant=extract', `--include=${include}`, '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr', suite, tmp, 'http://deb.debian.org/debian'],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 240_000 },
  );
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    process.stderr.write(`mmdebstrap ${suite} failed: ${String(r.stderr).slice(-500)}\n`);
    return undefined;
  }
  renameSync(tmp, out);
  return out;
}

/** Removes a test CAKE_HOME now (freshHome's cleanup finishes after the worker may have exited). */
export function removeHome(home: string): void {
  spawnSync('chmod', ['-R', 'u+rwX', home], { stdio: 'ignore' });
  rmSync(home, { recursive: true, force: true });
}

export function haveNix(): boolean {
  return have('nix-store') && spawnSync('nix-store', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync('sh', ['-c', 'test -w /nix/store'], { stdio: 'ignore' }).status === 0;
}
