/**
 * Reproducible bakes across homes (issue 14 item 5): the same env baked in two fresh CAKE_HOMEs —
 * one as root (umask 022, TZ=UTC), one as nobody (umask 077, TZ=Pacific/Chatham), each unpacking
 * the Debian kernel into its own cache — gives the same image bytes: raw with BIOS and qcow2 with
 * EFI. A difference names the first differing byte, its partition, and the superblock field or path.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE } from '../../helpers/cli.js';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { missing, missingCommands } from '../../helpers/tools.js';
import { BAKE_TOOLS, imageDifference, partitionOffset, sha256File, statInImage } from './harness.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

type Who = { user: 'root' | 'nobody'; umask: string; tz: string; home: string };

/** The built CLI with CAKE_HOME=HOME=`who.home`, its umask and TZ, as root or (uid 65534) as nobody. */
function run(who: Who, args: string[]): Run {
  const env = ['env', `CAKE_HOME=${who.home}`, `HOME=${who.home}`, 'NO_COLOR=1', `TZ=${who.tz}`, `PATH=${process.env.PATH ?? ''}`, 'SOURCE_DATE_EPOCH=', 'CAKE_BAKE_SEED='];
  const inner = ['sh', '-c', `umask ${who.umask} && exec "$@"`, 'sh', ...env, CAKE, ...args];
  const argv = who.user === 'root' ? inner : ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...inner];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: who.home });
}

describe.skipIf(missing('busybox-static', haveBusybox()) || missingCommands(...BAKE_TOOLS, 'setpriv', 'cmp', 'dumpe2fs'))('reproducible bakes in two homes', () => {
  let work: string;
  let tarball: string;
  let root: Who;
  let user: Who;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-bake-repro-'));
    chmodSync(work, 0o755);
    const bb = createBusyboxRootfs(join(work, 'rootfs'));
    tarball = join(work, 'bb.tar');
    execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-cf', tarball, '.']);
    chmodSync(tarball, 0o644);
    const home = (name: string, owner: number): string => {
      const h = join(work, name);
      execFileSync('mkdir', ['-m', '0700', h]);
      chownSync(h, owner, owner);
      return h;
    };
    root = { user: 'root', umask: '022', tz: 'UTC', home: home('root-home', 0) };
    user = { user: 'nobody', umask: '077', tz: 'Pacific/Chatham', home: home('nobody-home', 65534) };
    for (const who of [root, user]) {
      const r = run(who, ['import', tarball, '--name', 'bb']);
      expect(r.status, r.stderr).toBe(0);
    }
  }, 120_000);

  afterAll(() => {
    if (work === undefined) return;
    spawnSync('chmod', ['-R', 'u+rwX', work]);
    rmSync(work, { recursive: true, force: true });
  });

  it('raw + BIOS: the same bytes from root/umask 022/UTC and nobody/umask 077/Chatham, each with its own kernel cache', async () => {
    const images: string[] = [];
    for (const who of [root, user]) {
      const img = join(who.home, 'bb.img');
      const r = run(who, ['bake', 'bb', '-o', img, '--boot', 'bios', '--hostname', 'repro']);
      expect(r.status, r.stderr).toBe(0);
      // each home unpacked the kernel itself, under its own umask
      expect(r.stderr).toMatch(/unpacking linux-image-/);
      images.push(img);
    }
    const [a, b] = images as [string, string];
    expect(imageDifference(a, b)).toBeUndefined();
    expect(await sha256File(a)).toBe(await sha256File(b));
    // the umask did not reach the image: the modules are 0644 in 0755 directories
    const kernels = join(user.home, 'cache/v1/bake/kernels');
    const entry = join(kernels, readdirSync(kernels).find((d) => !d.includes('.tmp-')) as string);
    const release = readFileSync(join(entry, 'release'), 'utf8').trim();
    expect(statInImage(b, '/lib/modules')?.mode).toBe(0o755);
    expect(statInImage(b, `/lib/modules/${release}/kernel`)?.mode).toBe(0o755);
    expect(statInImage(b, `/lib/modules/${release}/modules.dep`)?.mode).toBe(0o644);
    expect(statInImage(b, `/lib/modules/${release}/modules.builtin`)?.mode).toBe(0o644);
    expect(statSync(join(entry, 'vmlinuz')).mode & 0o777).toBe(0o644);
    expect(statSync(join(entry, 'modules')).mode & 0o777).toBe(0o755);
    // the superblock's lifetime-writes counter, which differed between runs, is zeroed
    const sb = execFileSync('dumpe2fs', ['-h', `${a}?offset=${partitionOffset(a, 2)}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(sb).not.toMatch(/Lifetime writes/);
  }, 900_000);

  it('qcow2 + EFI: the same bytes from both homes', async () => {
    const images: string[] = [];
    for (const who of [root, user]) {
      const img = join(who.home, 'bb.qcow2');
      const r = run(who, ['bake', 'bb', '-o', img, '--format', 'qcow2', '--boot', 'efi', '--hostname', 'repro']);
      expect(r.status, r.stderr).toBe(0);
      images.push(img);
    }
    const [a, b] = images as [string, string];
    expect(execFileSync('qemu-img', ['info', a], { encoding: 'utf8' })).toMatch(/file format: qcow2/);
    if ((await sha256File(a)) !== (await sha256File(b))) {
      // name what differs in the raw form
      for (const q of [a, b]) execFileSync('qemu-img', ['convert', '-O', 'raw', q, `${q}.raw`]);
      expect(imageDifference(`${a}.raw`, `${b}.raw`) ?? 'only the qcow2 container differs').toBeUndefined();
    }
  }, 900_000);
});

