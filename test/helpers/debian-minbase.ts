import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_CACHE } from './cli.js';

/**
 * A configured Debian 12 minbase tree as a tarball written by mmdebstrap as root (real owners in
 * the headers: /etc/shadow is 0:42), kept in test/.cache between runs. Not made by cake: the
 * journey of a user importing `debootstrap`/`podman export` output.
 */
export function debianMinbaseTarball(): string {
  const file = join(TEST_CACHE, 'mmdebstrap-bookworm-minbase.tar');
  if (existsSync(file) && statSync(file).isFile()) return file;
  rmSync(file, { recursive: true, force: true }); // a directory left by an older helper
  mkdirSync(TEST_CACHE, { recursive: true });
  // mmdebstrap picks its output format from the name: the temporary must end in .tar too
  const tmp = join(TEST_CACHE, `.mmdebstrap-${process.pid}.tar`);
  execFileSync('mmdebstrap', ['--quiet', '--variant=minbase', '--mode=root', '--format=tar', 'bookworm', tmp, 'http://deb.debian.org/debian'], { stdio: 'inherit', timeout: 600_000 });
  renameSync(tmp, file);
  return file;
}
