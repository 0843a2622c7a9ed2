import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { haveBusybox } from '../../helpers/busybox-rootfs.js';
import { busyboxTarball, removeHome, debianTarball, haveNix } from './fixtures.js';
import { missing, skipMissing } from '../../helpers/tools.js';

/** path → sha256 (files) or link target (symlinks) of every entry of a tree. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      if (st.isDirectory()) walk(r);
      else if (st.isSymbolicLink()) out.set(r, `-> ${readlinkSync(join(root, r))}`);
      else if (st.isFile()) out.set(r, createHash('sha256').update(readFileSync(join(root, r))).digest('hex'));
    }
  };
  walk('');
  return out;
}

function unchanged(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...before].filter(([k, v]) => after.get(k) !== v).map(([k]) => k);
}

describe.skipIf(missing('busybox-static', haveBusybox()))('cake add (built CLI)', () => {
  const h = freshHome('cake-add-');
  const home = h.home;
  const work = mkdtempSync(join(tmpdir(), 'cake-add-work-'));
  const rootfs = (env: string) => join(home, 'v1/envs', env, 'rootfs');
  let bookworm: string | undefined;
  let trixie: string | undefined;

  beforeAll(async () => {
    expect((await cake(home, ['import', busyboxTarball(work), '--name', 'bb'])).code).toBe(0);
    bookworm = debianTarball('bookworm-bash');
    trixie = debianTarball('trixie-jq');
    if (bookworm) expect((await cake(home, ['import', bookworm, '--name', 'deb12'])).code).toBe(0);
    if (trixie) expect((await cake(home, ['import', trixie, '--name', 'deb13'])).code).toBe(0);
  });

  afterAll(() => {
    removeHome(home);
    rmSync(work, { recursive: true, force: true });
  });

  it("gives a busybox-only env Debian's bash with its closure, leaving the env's own files alone", async (t) => {
    if (!bookworm) return skipMissing(t, 'the Debian bookworm tarball (made with mmdebstrap)');
    const before = snapshot(rootfs('bb'));
    const r = await cake(home, ['add', 'bb', '--from', 'deb12:/bin/bash']);
    expect(r.stderr).toContain('added /bin/bash: from deb12:/bin/bash, with its loader and');
    expect(r.code).toBe(0);
    const ex = await cake(home, ['exec', 'bb', '--', 'bash', '-c', 'echo $BASH_VERSION; echo $0']);
    expect(ex.stderr).toBe('');
    expect(ex.stdout).toMatch(/^5\.2\.\d+\(1\)-release\n(\/bin\/)?bash$/);
    // bash runs the env's own (busybox) programs, which do not inherit its library path
    const child = await cake(home, ['exec', 'bb', '--', 'bash', '-c', 'ls / >/dev/null && readlink /bin/sh && echo "${LD_LIBRARY_PATH:-none}"']);
    expect(child.stdout).toBe('busybox\nnone');
    const after = snapshot(rootfs('bb'));
    // /bin is a real directory in this env: the wrapper replaced nothing that was there
    expect(unchanged(before, after)).toEqual([]);
    expect([...after.keys()].filter((k) => !before.has(k)).sort()).toEqual(
      expect.arrayContaining(['bin/bash', 'opt/cake/deb12/lib/libc.so.6', 'opt/cake/deb12/lib/ld-linux-x86-64.so.2', 'opt/cake/deb12/usr/bin/bash']),
    );
  });

  it('gives a Debian 12 env a program from Debian 13 that needs the newer libc', async (t) => {
    if (!bookworm || !trixie) return skipMissing(t, 'the Debian bookworm and trixie tarballs (made with mmdebstrap)');
    const before = snapshot(rootfs('deb12'));
    const r = await cake(home, ['add', 'deb12', '--from', 'deb13:/usr/bin/jq']);
    expect(r.code).toBe(0);
    const ex = await cake(home, ['exec', 'deb12', '--', 'sh', '-c', 'echo \'{"a":[1,2]}\' | jq -c .a; jq --version']);
    expect(ex.stdout).toMatch(/^\[1,2\]\njq-1\.7/);
    expect(ex.code).toBe(0);
    // Debian 13's jq needs a newer glibc than Debian 12's: without its closure it would not start
    const bare = await cake(home, ['exec', 'deb12', '--', '/opt/cake/deb13/usr/bin/jq', '--version']);
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toMatch(/GLIBC_2\.\d+' not found|libjq\.so\.1: cannot open/);
    expect(unchanged(before, snapshot(rootfs('deb12')))).toEqual([]);
    const dash = await cake(home, ['exec', 'deb12', '--', 'sh', '-c', 'readlink /bin/sh']);
    expect(dash.stdout).toBe('dash');
  });

  it('takes a program from the host the same way', async () => {
    const r = await cake(home, ['add', 'bb', '--host', '/usr/bin/env']);
    expect(r.code).toBe(0);
    const ex = await cake(home, ['exec', 'bb', '--', '/usr/bin/env', 'sh', '-c', 'echo via-env']);
    expect(ex.stdout).toBe('via-env');
    expect(readFileSync(join(rootfs('bb'), 'usr/bin/env'), 'utf8')).toContain("--library-path '/opt/cake/host/lib'");
  });

  it('names every library it cannot find, and bad arguments', async () => {
    // an ELF that needs a library nobody has: take the host's bash and ask for it from an env without libs
    mkdirSync(join(rootfs('bb'), 'opt/broken'), { recursive: true });
    writeFileSync(join(rootfs('bb'), 'opt/broken/bash'), readFileSync('/usr/bin/bash'));
    chmodSync(join(rootfs('bb'), 'opt/broken/bash'), 0o755);
    const r = await cake(home, ['add', 'bb', '--from', 'bb:/opt/broken/bash']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cake: bb:\/opt\/broken\/bash needs libraries that bb does not have: libtinfo\.so\.6 \(for \/opt\/broken\/bash\), libc\.so\.6 \(for \/opt\/broken\/bash\)\nhint: /);
    expect((await cake(home, ['add', 'bb', '--from', 'deb12/usr/bin/x'])).stderr).toMatch(/^cake: invalid --from "deb12\/usr\/bin\/x": expected OTHER:\/PATH/);
    expect((await cake(home, ['add', 'bb', '--from', 'bb:/no/such'])).stderr).toMatch(/^cake: bb:\/no\/such does not exist/);
    expect((await cake(home, ['add', 'bb'])).code).toBe(2);
    expect((await cake(home, ['add', 'nope', '--host', '/bin/true'])).stderr).toMatch(/^cake: no environment named nope/);
  });

  describe.skipIf(missing('nix-bin with a writable /nix/store', haveNix()))('Nix store closures (nix-bin)', () => {
    const made: string[] = [];
    let registered = '';
    let unregistered = '';
    let busyboxPath = '';

    beforeAll(() => {
      // B: a store path made with `nix-store --add`: a static busybox
      const src = join(work, 'cake-test-busybox');
      mkdirSync(join(src, 'bin'), { recursive: true });
      writeFileSync(join(src, 'bin/busybox'), readFileSync('/bin/busybox'));
      chmodSync(join(src, 'bin/busybox'), 0o755);
      busyboxPath = execFileSync('nix-store', ['--add', src], { encoding: 'utf8' }).trim();
      // A: a hand-made store path that refers to B, registered with its references
      const mk = (name: string, text: string): string => {
        const seed = join(work, `seed-${name}`);
        writeFileSync(seed, `${name} ${process.pid} ${Date.now()} ${Math.random()}`);
        const hash = execFileSync('nix-hash', ['--type', 'sha256', '--truncate', '--base32', '--flat', seed], { encoding: 'utf8' }).trim();
        const p = `/nix/store/${hash}-${name}`;
        mkdirSync(join(p, 'bin'), { recursive: true });
        writeFileSync(join(p, 'bin', name), text);
        chmodSync(join(p, 'bin', name), 0o555);
        chmodSync(join(p, 'bin'), 0o555);
        chmodSync(p, 0o555);
        made.push(p);
        return p;
      };
      registered = mk('cake-hello', `#!${busyboxPath}/bin/busybox sh\necho "hello from nix"\n`);
      execFileSync('nix-store', ['--register-validity'], { input: `${registered}\n\n1\n${busyboxPath}\n` });
      // C: refers to B too, but Nix does not know it: its closure comes from scanning
      unregistered = mk('cake-scan', `#!${busyboxPath}/bin/busybox sh\necho "found by scanning"\n`);
    });

    afterAll(() => {
      for (const p of [...made, busyboxPath]) {
        execFileSync('sh', ['-c', `nix-store --delete ${p} >/dev/null 2>&1 || true; chmod -R u+w ${p} 2>/dev/null; rm -rf ${p}`]);
      }
    });

    it('copies a registered closure (nix-store -qR) into /nix/store and puts its bin on PATH', async () => {
      expect(execFileSync('nix-store', ['-qR', registered], { encoding: 'utf8' })).toContain(busyboxPath);
      const r = await cake(home, ['add', 'bb', '--nix', registered]);
      expect(r.stderr).toContain(`added ${registered}: with 1 store paths of its closure (nix-store), ${registered}/bin on PATH`);
      expect(r.code).toBe(0);
      const ex = await cake(home, ['exec', 'bb', '--', 'sh', '-c', 'cake-hello; echo $PATH']);
      expect(ex.stdout).toBe(`hello from nix\n${registered}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`);
      expect(lstatSync(join(rootfs('bb'), busyboxPath, 'bin/busybox')).isFile()).toBe(true);
      const rec = JSON.parse(readFileSync(join(home, 'v1/envs/bb/env.json'), 'utf8'));
      expect(rec.ownership[`${registered.slice(1)}/bin/cake-hello`]).toEqual({ uid: 0, gid: 0, mode: 0o555 });
    });

    it('finds the closure of a path Nix does not know by scanning for references', async () => {
      const r = await cake(home, ['add', 'deb12', '--nix', `${unregistered}/bin/cake-scan`]);
      expect(r.stderr).toContain('(scan)');
      expect(r.code).toBe(0);
      const ex = await cake(home, ['exec', 'deb12', '--', 'cake-scan']);
      expect(ex.stdout).toBe('found by scanning');
    });

    it('adds a store path that is a single file (nix-store --add of a script): linked from /opt/cake/nix/bin, on PATH also for login shells', async () => {
      const src = join(work, 'cake-single-hello');
      writeFileSync(src, '#!/bin/sh\necho "single file from nix"\n');
      chmodSync(src, 0o755);
      const single = execFileSync('nix-store', ['--add', src], { encoding: 'utf8' }).trim();
      made.push(single);
      const r = await cake(home, ['add', 'bb', '--nix', single]);
      expect(r.stderr).not.toContain('ENOTDIR');
      expect(r.stderr).toContain(`added ${single}: a single file, with 0 store paths of its closure (nix-store), /opt/cake/nix/bin/cake-single-hello on PATH`);
      expect(r.code).toBe(0);
      expect(readlinkSync(join(rootfs('bb'), 'opt/cake/nix/bin/cake-single-hello'))).toBe(single);
      const ex = await cake(home, ['exec', 'bb', '--', 'sh', '-c', 'cake-single-hello; echo $PATH']);
      expect(ex.stdout).toBe(`single file from nix\n/opt/cake/nix/bin:${registered}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`);
      // login shells read it from /etc/profile.d (their /etc/profile resets PATH)
      expect(readFileSync(join(rootfs('bb'), 'etc/profile.d/cake-env.sh'), 'utf8')).toContain(`export PATH='/opt/cake/nix/bin:${registered}/bin:/usr/local/sbin:`);
      const login = await cake(home, ['exec', '--isolated', 'bb', '--', 'sh', '-c', 'PATH=/bin; . /etc/profile.d/cake-env.sh; cake-single-hello']);
      expect(login.stdout).toBe('single file from nix');
    });
  });
});
