/**
 * Issue 16.2b through the built CLI: `cake pull debian:bookworm --packages postgresql` runs
 * pg_createcluster, whose initdb runs as postgres and creates the data directory's files. They
 * are postgres's in the env's table and in `cake export` (before cake's owner shim: 988 of 989
 * entries root:root, as debootstrap gives none), and the exported tree, unpacked by tar as root,
 * starts the server as postgres on the host (a chroot: the real kernel's permission checks).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { missingCommands, skipUnless } from '../../helpers/tools.js';

describe.skipIf(missingCommands('unshare', 'chroot', 'tar'))('a PostgreSQL env from the archive', () => {
  let h: { home: string; cleanup(): void };
  let work: string;

  beforeAll(() => {
    h = freshHome('cake-pg-owner-');
    work = mkdtempSync(join(tmpdir(), 'cake-pg-owner-'));
  });

  afterAll(() => {
    h?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('has a data directory owned by postgres, in the export too, and its server starts there', async (ctx) => {
    const pull = await cake(h.home, ['pull', 'debian:bookworm', '--packages', 'postgresql', '--name', 'pg']);
    expect(pull.code, pull.stderr).toBe(0);
    const out = join(work, 'pg.tar');
    const exp = await cake(h.home, ['export', 'pg', out]);
    expect(exp.code, exp.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tvf', out, '--numeric-owner'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
    const passwd = execFileSync('tar', ['-xOf', out, 'etc/passwd'], { encoding: 'utf8' });
    const pg = /^postgres:x:(\d+):(\d+):/m.exec(passwd)!;
    const owners = new Map<string, number>();
    for (const l of listing.filter((x) => / var\/lib\/postgresql\/15\/main\//.test(x))) {
      const o = l.split(/\s+/)[1]!;
      owners.set(o, (owners.get(o) ?? 0) + 1);
    }
    expect([...owners.keys()]).toEqual([`${pg[1]}/${pg[2]}`]);
    expect(owners.get(`${pg[1]}/${pg[2]}`)).toBeGreaterThan(900);

    // unpacked as a real root would, the server runs as postgres
    skipUnless(ctx, 'root, to unpack with owners and chroot', process.getuid?.() === 0);
    const root = join(work, 'root');
    mkdirSync(root);
    execFileSync('tar', ['-xpf', out, '--numeric-owner', '-C', root]);
    const pgctl = '/usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main';
    const server = `${pgctl} -o "-c config_file=/etc/postgresql/15/main/postgresql.conf -c listen_addresses= -c unix_socket_directories=/tmp" -w -l /tmp/pg.log start >/dev/null && psql -h /tmp -tAc "select 40+2"; rc=$?; ${pgctl} -w stop >/dev/null; exit $rc`;
    const q = execFileSync('unshare', ['-m', 'sh', '-c', `mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && exec chroot "$1" su postgres -s /bin/sh -c "$2"`, 'sh', root, server], { encoding: 'utf8', timeout: 120_000 });
    expect(q.trim()).toBe('42');
  }, 900_000);
});
