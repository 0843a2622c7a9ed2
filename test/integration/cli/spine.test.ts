import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { TestHttpServer } from '../../helpers/http-server.js';
import { tar, file, dir, symlink } from '../../helpers/tar-build.js';
import { missing } from '../../helpers/tools.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(missing('busybox-static', haveBusybox()))('cake CLI spine (built CLI, real tools)', () => {
  let work: string;
  let tarball: string;
  let tarBytes: Buffer;
  let server: TestHttpServer;
  const homes: Array<{ cleanup(): void }> = [];
  const home = (): string => {
    const h = freshHome();
    homes.push(h);
    return h.home;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-spine-'));
    const bb = createBusyboxRootfs(join(work, 'rootfs'));
    // Real-world shapes in the tree: a dir without u+w, a setuid file, a file owned by 1234.
    execFileSync('sh', ['-c', `cd ${bb.root} && mkdir ro && echo x > ro/f && chmod 0555 ro && echo s > suid && chmod 4755 suid`]);
    tarball = join(work, 'bb.tar.gz');
    execFileSync('tar', ['-C', bb.root, '--owner=0', '--group=0', '-czf', tarball, '.']);
    // Give one entry a non-root owner through a second tarball built with numeric owners.
    tarBytes = readFileSync(tarball);
    server = await TestHttpServer.start();
    server.file('/bb.tar.gz', tarBytes);
  });

  afterAll(async () => {
    await server?.close();
    for (const h of homes) h.cleanup();
    execFileSync('chmod', ['-R', 'u+rwX', work]);
    execFileSync('rm', ['-rf', work]);
  });

  it('imports a local tarball, lists it, runs commands with exit codes passed through, removes it', async () => {
    const h = home();
    const imp = await cake(h, ['import', tarball, '--name', 'bb']);
    expect(imp.stderr).toContain('created bb');
    expect(imp.code).toBe(0);
    expect(imp.stdout).toMatch(/^bb\tsha256:[0-9a-f]{64}$/);
    const list = JSON.parse((await cake(h, ['list', '--json'])).stdout) as Array<{ name: string; arch: string }>;
    expect(list.map((e) => e.name)).toEqual(['bb']);
    const ex = await cake(h, ['exec', 'bb', '--', 'sh', '-c', 'cat /etc/os-release; echo err >&2; exit 7']);
    expect(ex.code).toBe(7);
    expect(ex.stdout).toContain('ID=cake-busybox');
    expect(ex.stderr).toContain('err');
    const rm = await cake(h, ['rm', 'bb']);
    expect(rm.code).toBe(0);
    expect(readdirSync(join(h, 'v1/envs')).filter((e) => !e.startsWith('.'))).toEqual([]);
    const again = await cake(h, ['exec', 'bb', '--', 'true']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^cake: no environment named bb\nhint: /);
  });

  it('pulls a pinned URL once for two concurrent pulls; a wrong pin installs nothing', async () => {
    const h = home();
    const url = server.url('/bb.tar.gz');
    const pin = sha256(tarBytes);
    server.reset();
    const [a, b] = await Promise.all([
      cake(h, ['pull', url, '--sha256', pin, '--name', 'one']),
      cake(h, ['pull', `${url}#sha256=${pin}`, '--name', 'two']),
    ]);
    expect([a.code, b.code, a.stderr + b.stderr]).toEqual([0, 0, expect.any(String)]);
    expect(server.requestsTo('/bb.tar.gz').filter((r) => r.status === 200 || r.status === 206)).toHaveLength(1);
    // The same source into the same name again is a no-op that succeeds.
    const [c, d] = await Promise.all([cake(h, ['pull', url, '--sha256', pin, '--name', 'one']), cake(h, ['pull', url, '--sha256', pin, '--name', 'one'])]);
    expect([c.code, d.code]).toEqual([0, 0]);
    expect(c.stderr + d.stderr).toContain('up to date');

    const wrong = 'a'.repeat(64);
    const bad = await cake(h, ['pull', url, '--sha256', wrong, '--name', 'bad']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(wrong);
    expect(bad.stderr).toContain(pin);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(h, 'v1/envs/bad'))).toBe(false);
  });

  it('resumes an interrupted download and retries transient failures', async () => {
    const h = home();
    const url = server.url('/bb.tar.gz');
    server.reset();
    server.fail('/bb.tar.gz', { type: 'drop', afterBytes: Math.floor(tarBytes.length / 2) });
    server.fail('/bb.tar.gz', { type: 'status', status: 503, retryAfter: 0 });
    const r = await cake(h, ['pull', url, '--sha256', sha256(tarBytes), '--name', 'resumed']);
    expect(r.code).toBe(0);
    const ranged = server.requestsTo('/bb.tar.gz').filter((q) => q.headers.range);
    expect(ranged.length).toBeGreaterThan(0);
    expect(server.bytesServed('/bb.tar.gz')).toBeLessThan(tarBytes.length * 1.5);
  });

  it('an unpinned URL warns with the digest to pin', async () => {
    const h = home();
    const r = await cake(h, ['pull', server.url('/bb.tar.gz'), '--name', 'loose']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`--sha256 ${sha256(tarBytes)}`);
  });

  it('export reproduces ownership and modes; import of the export gives the same tree', async () => {
    const h = home();
    // A tarball with non-root owners and a device node (skipped on disk, recorded, exported).
    const src = join(work, 'owned.tar');
    writeFileSync(
      src,
      tar(
        dir('etc/', { mode: 0o755 }),
        file('etc/shadow', 'root:*:1::::::\n', { mode: 0o640, uid: 0, gid: 42 }),
        file('usr-bin-su', 'su', { mode: 0o4755 }),
        file('home-file', 'mine', { mode: 0o600, uid: 1234, gid: 1234 }),
        dir('ro/', { mode: 0o555 }),
        file('ro/inner', 'in', { mode: 0o444 }),
        symlink('link', 'etc/shadow'),
        Buffer.concat([]),
      ),
    );
    expect((await cake(h, ['import', src, '--name', 'owned'])).code).toBe(0);
    const out = join(work, 'owned-export.tar.gz');
    const ex = await cake(h, ['export', 'owned', out], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(ex.code).toBe(0);
    const listing = execFileSync('tar', ['-tvzf', out, '--numeric-owner'], { encoding: 'utf8' });
    expect(listing).toMatch(/-rw-r----- 0\/42 .* etc\/shadow/);
    expect(listing).toMatch(/-rwsr-xr-x 0\/0 .* usr-bin-su/);
    expect(listing).toMatch(/-rw------- 1234\/1234 .* home-file/);
    expect(listing).toMatch(/dr-xr-xr-x 0\/0 .* ro\/?\n/);
    // Deterministic with SOURCE_DATE_EPOCH.
    const out2 = join(work, 'owned-export2.tar.gz');
    await cake(h, ['export', 'owned', out2], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(sha256(readFileSync(out2))).toBe(sha256(readFileSync(out)));
    // a bad SOURCE_DATE_EPOCH is an error, not silently the export's own times; nothing is written
    const bad = await cake(h, ['export', 'owned', join(work, 'owned-bad.tar')], { env: { SOURCE_DATE_EPOCH: 'yesterday' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^cake: SOURCE_DATE_EPOCH="yesterday" is not a number of seconds since 1970\nhint: /);
    expect(existsSync(join(work, 'owned-bad.tar'))).toBe(false);
    // Round trip.
    expect((await cake(h, ['import', out, '--name', 'owned2'])).code).toBe(0);
    const rec = JSON.parse(readFileSync(join(h, 'v1/envs/owned2/env.json'), 'utf8')) as { ownership: Record<string, { uid: number; gid: number; mode: number }> };
    expect(rec.ownership['etc/shadow']).toMatchObject({ uid: 0, gid: 42 });
    expect(rec.ownership['home-file']).toMatchObject({ uid: 1234, gid: 1234 });
    // rm works whatever the modes.
    expect((await cake(h, ['rm', 'owned', 'owned2'])).code).toBe(0);
  });

  it('rejects a hostile archive with one line, exit 1, nothing installed, nothing written outside', async () => {
    const h = home();
    const evil = join(work, 'evil.tar');
    writeFileSync(evil, tar(dir('d/'), symlink('d/escape', '../../../../../../tmp'), file('d/escape/cake-pwned', 'x')));
    const r = await cake(h, ['import', evil, '--name', 'evil']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/^cake: .*escape/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync('/tmp/cake-pwned')).toBe(false);
    expect(readdirSync(join(h, 'v1/envs'))).toEqual([]);
  });

  it('renames, refuses bad names and usage errors with exit 2', async () => {
    const h = home();
    await cake(h, ['import', tarball, '--name', 'a']);
    expect((await cake(h, ['rename', 'a', 'b'])).code).toBe(0);
    expect(JSON.parse((await cake(h, ['list', '--json'])).stdout)[0].name).toBe('b');
    const bad = await cake(h, ['import', tarball, '--name', '../evil']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^cake: invalid environment name/);
    expect((await cake(h, ['frobnicate'])).code).toBe(2);
    expect((await cake(h, ['exec', 'b'])).code).toBe(2);
    expect((await cake(h, ['pull', 'debian', '--bogus'])).code).toBe(2);
    // the same file into the same name again is a no-op (issue 15 item 9); another file is refused
    const same = await cake(h, ['import', tarball, '--name', 'b']);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toContain('b is up to date');
    const other = join(work, 'other.tar');
    writeFileSync(other, tar(file('other', 'x')));
    const exists = await cake(h, ['import', other, '--name', 'b']);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toContain('--force');
  });

  it('an interrupted import leaves the store consistent and gc cleans up', async () => {
    const h = home();
    // A large-ish tarball so the import is still running when the signal arrives.
    const big = join(work, 'big.tar');
    const members: Buffer[] = [];
    for (let i = 0; i < 4000; i++) members.push(file(`f/${i}`, 'x'.repeat(2048)));
    writeFileSync(big, tar(...members));
    const child = execa(CAKE, ['import', big, '--name', 'big'], { env: { CAKE_HOME: h, NO_COLOR: '1' }, reject: false });
    // Interrupt once the staging dir exists: the import is then under way.
    const envsDir = join(h, 'v1/envs');
    for (let i = 0; i < 400; i++) {
      if (existsSync(envsDir) && readdirSync(envsDir).some((e) => e.startsWith('.staging'))) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGINT');
    const r = await child;
    if (r.exitCode === 0) return; // finished before the signal: nothing to check on this machine
    expect(r.exitCode).toBe(130);
    expect(existsSync(join(h, 'v1/envs/big'))).toBe(false);
    expect(readdirSync(join(h, 'v1/envs')).filter((e) => e.startsWith('.staging'))).toEqual([]);
    const gc = await cake(h, ['gc']);
    expect(gc.code).toBe(0);
    // And the name is free to use.
    expect((await cake(h, ['import', tarball, '--name', 'big'])).code).toBe(0);
  });

  it('doctor reports tools and the engine choice; distros lists the seven distros', async () => {
    const h = home();
    const d = await cake(h, ['doctor', '--json']);
    const rows = JSON.parse(d.stdout) as Array<{ name: string; ok: boolean; detail: string }>;
    expect(rows.find((r) => r.name === 'engine')?.detail).toMatch(/auto → (userns|proot)/);
    expect(rows.find((r) => r.name === 'mkfs.ext4')?.ok).toBe(true);
    const ds = JSON.parse((await cake(h, ['distros', '--json'])).stdout) as Array<{ name: string }>;
    expect(ds.map((x) => x.name).sort()).toEqual(['alpine', 'archlinux', 'debian', 'fedora', 'opensuse', 'ubuntu', 'void']);
  });
});

