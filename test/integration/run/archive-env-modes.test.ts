/**
 * Modes that a statically linked program sets (issue 16.5): busybox-static's chmod calls the
 * kernel directly, so libfakeroot never sees it. In an env built from the Debian archive, cake
 * sees the changed modes of recorded paths on disk after the run, takes them into the ownership
 * table (what the guest sees next and what an export writes) and warns once per run.
 * And `--user` (issue 16.3): `id` lists the supplementary groups /etc/group gives the user.
 * And files created under another guest user (issue 16.2b: runuser, setpriv, `--user`) are that
 * user's in the table and in an export, on both engines.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { linkProvisionedProot, provisionTestProot } from '../../helpers/provisioned-proot.js';
import { resolvePaths } from '../../../src/store/paths.js';

const WARNING = /mode change\(s\) in deb bypassed fakeroot/g;

describe('a static chmod in an archive env', () => {
  let h: { home: string; cleanup(): void };
  let work: string;

  beforeAll(async () => {
    h = freshHome('cake-static-modes-');
    work = mkdtempSync(join(tmpdir(), 'cake-static-modes-'));
    const pull = await cake(h.home, ['pull', 'debian:bookworm', '--name', 'deb', '--packages', 'busybox-static']);
    expect(pull.code, pull.stderr).toBe(0);
  }, 900_000);

  afterAll(() => {
    h?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const stat = async (...paths: string[]): Promise<string> => {
    const r = await cake(h.home, ['exec', 'deb', '--', 'stat', '-c', '%n %U:%G %a', ...paths]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(WARNING);
    return r.stdout;
  };

  it('is adopted into the table with one warning per run; a chmod through libc is recorded as before, without a warning', async () => {
    expect(await stat('/etc/shadow', '/usr/bin/chage')).toBe('/etc/shadow root:shadow 640\n/usr/bin/chage root:shadow 2755');
    // the busybox binary is static: it does not load libfakeroot
    const bb = await cake(h.home, ['exec', 'deb', '--', 'sh', '-c', 'busybox chmod 0600 /etc/shadow && busybox chmod 4755 /usr/bin/chage']);
    expect(bb.code, bb.stderr).toBe(0);
    expect(bb.stderr.match(WARNING) ?? [], bb.stderr).toHaveLength(1);
    expect(bb.stderr).toContain('2 mode change(s) in deb bypassed fakeroot (/etc/shadow, /usr/bin/chage)');
    expect(bb.stderr).toContain('dynamically linked tools');
    expect(await stat('/etc/shadow', '/usr/bin/chage')).toBe('/etc/shadow root:shadow 600\n/usr/bin/chage root:shadow 4755');

    // coreutils' chmod goes through libfakeroot: faked has it, nothing to adopt, no warning
    const libc = await cake(h.home, ['exec', 'deb', '--', 'chmod', '0440', '/etc/shadow']);
    expect(libc.code, libc.stderr).toBe(0);
    expect(libc.stderr).not.toMatch(WARNING);
    expect(await stat('/etc/shadow')).toBe('/etc/shadow root:shadow 440');

    // a static chmod that takes the owner's own access away: recorded, and the export carries it
    const none = await cake(h.home, ['exec', 'deb', '--', 'busybox', 'chmod', '0000', '/etc/shadow']);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr.match(WARNING) ?? []).toHaveLength(1);
    expect(await stat('/etc/shadow')).toBe('/etc/shadow root:shadow 0');
    const out = join(work, 'deb.tar.gz');
    const exp = await cake(h.home, ['export', 'deb', out]);
    expect(exp.code, exp.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tvzf', out, '--numeric-owner'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
    const line = (p: string): string => listing.find((l) => l.endsWith(` ${p}`) || l.endsWith(` ./${p}`)) ?? `${p} missing`;
    expect(line('etc/shadow')).toMatch(/^---------- 0\/42 /);
    expect(line('usr/bin/chage')).toMatch(/^-rwsr-xr-x 0\/42 /);
  }, 300_000);
});

describe('--user and other guest users in an archive env', () => {
  let h: { home: string; cleanup(): void };

  beforeAll(async () => {
    h = freshHome('cake-user-groups-');
    await provisionTestProot();
    linkProvisionedProot(join(resolvePaths({ CAKE_HOME: h.home }).cache, 'engine'));
    const pull = await cake(h.home, ['pull', 'debian:bookworm', '--name', 'deb']);
    expect(pull.code, pull.stderr).toBe(0);
  }, 900_000);

  afterAll(() => h?.cleanup());

  it('lists the groups /etc/group gives the user, on the default engine and on proot', async () => {
    const add = await cake(h.home, ['exec', 'deb', '--', 'sh', '-c', 'useradd -m bob && usermod -aG sudo,users bob']);
    expect(add.code, add.stderr).toBe(0);
    for (const engine of ['auto', 'proot']) {
      const id = await cake(h.home, ['exec', 'deb', '--engine', engine, '--user', 'bob', '--', 'id']);
      expect(id.code, `${engine}: ${id.stderr}`).toBe(0);
      expect(id.stdout, engine).toBe('uid=1000(bob) gid=1000(bob) groups=1000(bob),27(sudo),100(users)');
      const names = await cake(h.home, ['exec', 'deb', '--engine', engine, '--user', 'bob', '--', 'id', '-Gn']);
      expect(names.stdout, engine).toBe('bob sudo users');
      // root's own runs are untouched
      const root = await cake(h.home, ['exec', 'deb', '--engine', engine, '--', 'id']);
      expect(root.stdout, engine).toBe('uid=0(root) gid=0(root) groups=0(root)');
    }
  }, 300_000);

  it('are recorded as that user (runuser, setpriv, --user) on the default engine and on proot, and exported so', async () => {
    const prep = await cake(h.home, ['exec', 'deb', '--', 'sh', '-c', '(id bob >/dev/null 2>&1 || useradd -m bob) && mkdir -m 1777 /srv/a /srv/b && touch /srv/a/shared && chmod 666 /srv/a/shared']);
    expect(prep.code, prep.stderr).toBe(0);
    for (const [engine, dir] of [['auto', 'a'], ['proot', 'b']] as const) {
      const script = [
        `runuser -u nobody -- sh -c 'mkdir /srv/${dir}/n && echo x > /srv/${dir}/n/f && ln -s f /srv/${dir}/n/l && mkfifo /srv/${dir}/n/p && echo more >> /srv/${dir}/shared'`,
        `setpriv --reuid=65534 --regid=65534 --clear-groups touch /srv/${dir}/s`,
        `touch /srv/${dir}/root`,
      ].join(' && ');
      const r = await cake(h.home, ['exec', 'deb', '--engine', engine, '--', 'sh', '-c', script]);
      expect(r.code, `${engine}: ${r.stderr}`).toBe(0);
      const u = await cake(h.home, ['exec', 'deb', '--engine', engine, '--user', 'bob', '--', 'sh', '-c', `mkdir ~/${dir} && touch ~/${dir}/f`]);
      expect(u.code, `${engine}: ${u.stderr}`).toBe(0);
      // a later run sees the recorded owners (the table, not the run's faked)
      const st = await cake(h.home, ['exec', 'deb', '--engine', engine, '--', 'stat', '-c', '%n %U:%G', `/srv/${dir}/n`, `/srv/${dir}/n/f`, `/srv/${dir}/n/l`, `/srv/${dir}/n/p`, `/srv/${dir}/s`, `/srv/${dir}/root`, `/home/bob/${dir}/f`]);
      expect(st.stdout.split('\n'), `${engine}: ${st.stderr}`).toEqual([
        `/srv/${dir}/n nobody:nogroup`,
        `/srv/${dir}/n/f nobody:nogroup`,
        `/srv/${dir}/n/l nobody:nogroup`,
        `/srv/${dir}/n/p nobody:nogroup`,
        `/srv/${dir}/s nobody:nogroup`,
        `/srv/${dir}/root root:root`,
        `/home/bob/${dir}/f bob:bob`,
      ]);
    }
    const work = mkdtempSync(join(tmpdir(), 'cake-created-owner-'));
    onTestFinished(() => rmSync(work, { recursive: true, force: true }));
    const out = join(work, 'deb.tar');
    const exp = await cake(h.home, ['export', 'deb', out]);
    expect(exp.code, exp.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tvf', out, '--numeric-owner'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
    const owner = (p: string): string => listing.find((l) => l.endsWith(` ${p}`) || l.endsWith(` ${p}/`) || l.includes(` ${p} -> `))?.split(/\s+/)[1] ?? `${p} missing`;
    for (const dir of ['a', 'b']) {
      for (const p of ['n', 'n/f', 'n/l', 'n/p', 's']) expect(owner(`srv/${dir}/${p}`), `srv/${dir}/${p}`).toBe('65534/65534');
      // created by root, or there before nobody appended to it: root's
      expect(owner(`srv/${dir}/root`)).toBe('0/0');
      expect(owner(`home/bob/${dir}/f`)).toBe('1000/1000');
    }
    expect(owner('srv/a/shared')).toBe('0/0');
  }, 300_000);
});
