/**
 * The store under hostile envs and faults, through the built CLI: guest-made depth, fifos and
 * sparse giants (issue 15 item 4), corrupt records (item 11), idempotent local pulls (item 9),
 * locks that cannot block (item 6), rm of an env in use (issue 11 item 17), leftovers gc removes
 * (item 10) and damaged blobs (item 7).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome, type CakeResult } from '../../helpers/cli.js';
import { TestHttpServer } from '../../helpers/http-server.js';
import { busyboxTarball } from '../cook/fixtures.js';
import { removeTreeSync } from '../../../src/archive/remove-tree.js';

const ENV = (h: string) => join(h, 'v1/envs');

/** A pid that ran and is gone now. */
function deadPid(): number {
  return Number(String(spawnSync('sh', ['-c', 'echo $$']).stdout).trim());
}

/** Runs the CLI as nobody:nogroup with `home` (owned by nobody) as CAKE_HOME. */
async function asNobody(home: string, args: string[]): Promise<CakeResult> {
  const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', `CAKE_HOME=${home}`, `HOME=${home}`, 'NO_COLOR=1', CAKE, ...args], { reject: false, stdin: 'ignore' });
  return { code: r.exitCode ?? 128, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A CLI process started in the background, its exit and stderr watched from the start. */
function started(cmd: string, args: string[], home: string): { child: ChildProcess; exit: Promise<{ code: number | null; stderr: string }>; stderr(): string } {
  const child = spawn(cmd, args, { env: { ...process.env, CAKE_HOME: home, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr: err })));
  return { child, exit, stderr: () => err };
}

async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Leftovers the store must not hold once the commands are done (or gc ran). */
function leftovers(home: string): string[] {
  const out: string[] = [];
  for (const e of readdirSafe(ENV(home))) if (e.startsWith('.') || !existsSync(join(ENV(home), e, 'env.json'))) out.push(`envs/${e}`);
  for (const e of readdirSafe(join(home, 'v1/locks'))) if (e.endsWith('.lock') || e.includes('cake-tmp')) out.push(`locks/${e}`);
  for (const e of readdirSafe(join(home, 'v1/store/tmp'))) if (!/^download-.*\.part$/.test(e)) out.push(`tmp/${e}`);
  return out;
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** A chain of 2047 directories made by the guest itself (deeper than PATH_MAX from the host), with a fifo at the bottom. */
const DEEP = 'cd / && i=0; while [ $i -lt 2047 ]; do mkdir a && cd a || exit 1; i=$((i+1)); done; mkfifo fifo; echo x > file';

describe('the store against guest-made objects and faults (built CLI)', () => {
  let work: string;
  let tarball: string;
  const homes: string[] = [];
  const home = (): string => {
    const h = freshHome('cake-faults-').home;
    homes.push(h);
    return h;
  };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cake-faults-'));
    chmodSync(work, 0o755);
    tarball = busyboxTarball(work);
  });
  afterAll(() => {
    // removeTreeSync: the trees are deeper than Node's recursive rmSync can go
    for (const h of homes) removeTreeSync(h);
    removeTreeSync(work);
  });

  it('a 2047-deep guest-made chain with a fifo: export, rm and gc work, and the store stays usable', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'deep'])).code).toBe(0);
    const made = await cake(h, ['exec', 'deep', '--', '/bin/sh', '-c', DEEP]);
    expect(made.code, made.stderr).toBe(0);
    const out = join(work, 'deep.tar');
    const ex = await cake(h, ['export', 'deep', out]);
    expect(ex.code, ex.stderr).toBe(0);
    const names = execFileSync('tar', ['-tf', out], { maxBuffer: 1 << 26, encoding: 'utf8' }).split('\n');
    expect(names.some((n) => n.endsWith('/a/fifo'))).toBe(true);
    expect(names.find((n) => n.endsWith('/a/file'))!.length).toBeGreaterThan(4094);
    // the trash of a failed rm used to brick every later pull and gc: now rm simply works
    const rm = await cake(h, ['rm', 'deep']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(existsSync(join(ENV(h), 'deep'))).toBe(false);
    expect((await cake(h, ['pull', tarball, '--name', 'again'])).code).toBe(0);
    const gc = await cake(h, ['gc']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(leftovers(h)).toEqual([]);
  });

  it('the same as a plain user (nobody)', async () => {
    const h = mkdtempSync(join(tmpdir(), 'cake-faults-nobody-'));
    homes.push(h);
    chownSync(h, 65534, 65534);
    expect((await asNobody(h, ['pull', tarball, '--name', 'deep'])).code).toBe(0);
    const made = await asNobody(h, ['exec', 'deep', '--', '/bin/sh', '-c', `${DEEP}; chmod 0 ..`]);
    expect(made.code, made.stderr).toBe(0);
    const rm = await asNobody(h, ['rm', 'deep']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(existsSync(join(ENV(h), 'deep'))).toBe(false);
    expect((await asNobody(h, ['gc'])).code).toBe(0);
    expect(leftovers(h)).toEqual([]);
  });

  it('cake add --from ENV:/fifo refuses at once instead of blocking', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'src'])).code).toBe(0);
    expect((await cake(h, ['pull', tarball, '--name', 'dst'])).code).toBe(0);
    expect((await cake(h, ['exec', 'src', '--', '/bin/sh', '-c', 'mkfifo /fifo'])).code).toBe(0);
    const r = await cake(h, ['add', 'dst', '--from', 'src:/fifo'], { timeout: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('cake: src:/fifo is a fifo: only files, directories and symlinks to them can be added\nhint: name a regular file or a directory');
  });

  it('an export of a sparse giant stops on SIGINT with 130 and leaves no file', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'big'])).code).toBe(0);
    writeFileSync(join(ENV(h), 'big/rootfs/giant'), '');
    truncateSync(join(ENV(h), 'big/rootfs/giant'), 2 ** 40); // 1 TiB, no blocks
    const out = join(work, 'big.tar');
    const p = started(CAKE, ['export', 'big', out], h);
    await until(() => readdirSync(work).some((f) => f.includes('big.tar.cake-tmp')));
    p.child.kill('SIGINT');
    const { code, stderr } = await p.exit;
    expect(code, stderr).toBe(130);
    expect(stderr).toBe('cake: interrupted\n');
    expect(readdirSync(work).filter((f) => f.includes('big.tar'))).toEqual([]);
    expect(leftovers(h)).toEqual([]);
  });

  it('a corrupt env.json is reported and skipped; list, gc, exec and rm keep working', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'good'])).code).toBe(0);
    const bad = ['null', '[]', '{}', '{"version":1,"source":{"kind":"file","ref":7},"resolved":{},"arch":"x86_64"}', 'not json'];
    for (const [i, text] of bad.entries()) {
      expect((await cake(h, ['pull', tarball, '--name', `bad${i}`])).code).toBe(0);
      writeFileSync(join(ENV(h), `bad${i}`, 'env.json'), text);
    }
    const list = await cake(h, ['list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^good\s/m);
    expect(list.stderr.trim().split('\n')).toHaveLength(bad.length);
    expect(list.stderr).toContain('warning: environment bad0 has a corrupt env.json: expected an object, found null (skipped; `cake rm bad0` removes it)');
    expect(list.stderr).not.toContain('bug');
    expect((await cake(h, ['gc'])).code).toBe(0);
    const exec = await cake(h, ['exec', 'bad2', '--', 'true']);
    expect(exec.code).toBe(1);
    expect(exec.stderr).toBe('cake: environment bad2 has a corrupt env.json: source is not {kind, ref}\nhint: remove it with `cake rm bad2` and pull it again');
    // a record that names another env (../../x) does not decide where the env is
    writeFileSync(join(ENV(h), 'good', 'env.json'), readFileSync(join(ENV(h), 'good', 'env.json'), 'utf8').replace('"name": "good"', '"name": "../../x"'));
    expect((await cake(h, ['exec', 'good', '--', 'true'])).code).toBe(0);
    expect((await cake(h, ['list', '--json'])).stdout).toContain('"name": "good"');
    const rm = await cake(h, ['rm', ...bad.map((_, i) => `bad${i}`)]);
    expect(rm.code, rm.stderr).toBe(0);
  });

  it('pulling one local tarball again, and six times in parallel, succeeds with one env', async () => {
    const h = home();
    const first = await cake(h, ['pull', tarball, '--name', 'bb']);
    expect(first.code, first.stderr).toBe(0);
    const again = await cake(h, ['pull', tarball, '--name', 'bb']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('bb is up to date');
    expect(again.stdout).toBe(first.stdout);
    const par = await Promise.all(Array.from({ length: 6 }, () => cake(h, ['pull', tarball, '--name', 'par'])));
    for (const r of par) expect(r.code, r.stderr).toBe(0);
    expect(new Set(par.map((r) => r.stdout)).size).toBe(1);
    expect(readdirSync(ENV(h)).sort()).toEqual(['bb', 'par']);
    // another file under the same name is not "up to date"
    const other = join(work, 'other.tar');
    execFileSync('tar', ['-cf', other, '-C', join(ENV(h), 'bb/rootfs'), 'bin']);
    const clash = await cake(h, ['pull', other, '--name', 'bb']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('environment bb already exists');
  });

  it('locks left empty, with garbage or naming a live non-cake pid are taken over at once; a wait for a live cake ends on SIGTERM', async () => {
    const h = home();
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = execFileSync('readlink', ['/proc/self/ns/pid'], { encoding: 'utf8' }).replace(/\D/g, '');
    for (const content of ['', 'garbage\n', `1 999999999 ${boot} ${ns}\n`, '1\n']) {
      expect((await cake(h, ['pull', tarball, '--name', 'x'])).code).toBe(0);
      writeFileSync(join(h, 'v1/locks/env-x.lock'), content);
      const rm = await cake(h, ['rm', 'x'], { timeout: 20_000 });
      expect(rm.code, rm.stderr).toBe(0);
      expect(rm.stderr).toMatch(/^note: took over .*env-x\.lock: /);
    }
    // held by a live cake (a `cake exec` that sleeps): rm waits, and SIGTERM ends the wait with 130
    expect((await cake(h, ['pull', tarball, '--name', 'x'])).code).toBe(0);
    const start = String(readFileSync(`/proc/${process.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[19];
    writeFileSync(join(h, 'v1/locks/env-x.lock'), `${process.pid} ${start} ${boot} ${ns}\n`);
    const p = started(CAKE, ['rm', 'x'], h);
    await until(() => p.stderr().includes('waiting'));
    p.child.kill('SIGTERM');
    const { code, stderr } = await p.exit;
    expect(code, stderr).toBe(130);
    expect(existsSync(join(ENV(h), 'x/env.json'))).toBe(true);
    rmSync(join(h, 'v1/locks/env-x.lock'));
  });

  it('cake rm refuses an env a shell runs in, --force removes it', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'busy'])).code).toBe(0);
    const shell = spawn(CAKE, ['exec', 'busy', '--', '/bin/sh', '-c', 'echo ready; sleep 30'], { env: { ...process.env, CAKE_HOME: h, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => shell.stdout!.once('data', () => resolve()));
    const refused = await cake(h, ['rm', 'busy']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^cake: environment busy is in use by a cake enter\/exec \(pid \d+\)\nhint: leave the shell or end the command first, or `cake rm --force busy`$/);
    expect(existsSync(join(ENV(h), 'busy/env.json'))).toBe(true);
    const forced = await cake(h, ['rm', '--force', 'busy']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(join(ENV(h), 'busy'))).toBe(false);
    shell.kill('SIGKILL');
    // a killed shell's lease does not count
    expect((await cake(h, ['pull', tarball, '--name', 'busy'])).code).toBe(0);
    const killed = spawn(CAKE, ['exec', 'busy', '--', '/bin/sh', '-c', 'echo ready; sleep 30'], { env: { ...process.env, CAKE_HOME: h, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => killed.stdout!.once('data', () => resolve()));
    killed.kill('SIGKILL');
    await new Promise((r) => killed.on('exit', r));
    const rm = await cake(h, ['rm', 'busy']);
    expect(rm.code, rm.stderr).toBe(0);
  });

  it('gc removes the leftovers of killed commands: export temporaries, stale locks, kernel unpack dirs, bake and faked work dirs, skeletons, staging dirs', async () => {
    const h = home();
    expect((await cake(h, ['pull', tarball, '--name', 'keep'])).code).toBe(0);
    // a real export killed with -9 while it writes (a 1 TiB sparse file keeps it busy)
    writeFileSync(join(ENV(h), 'keep/rootfs/giant'), '');
    truncateSync(join(ENV(h), 'keep/rootfs/giant'), 2 ** 40);
    const outDir = mkdtempSync(join(work, 'out-'));
    const p = started(CAKE, ['export', 'keep', join(outDir, 'keep.tar')], h);
    await until(() => readdirSync(outDir).length > 0);
    p.child.kill('SIGKILL');
    await p.exit;
    expect(readdirSync(outDir)).toHaveLength(1); // its temporary
    rmSync(join(ENV(h), 'keep/rootfs/giant'));
    const dead = deadPid();
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(join(h, `v1/locks/env-base-${dead}-abcdef.lock`), `${dead} 1 ${boot} -\n`);
    writeFileSync(join(h, 'v1/locks/env-empty.lock'), '');
    const kernels = join(h, 'cache/v1/bake/kernels');
    mkdirSync(join(kernels, `${'ab'.repeat(32)}.tmp-${dead}/lib`), { recursive: true });
    mkdirSync(join(kernels, 'ab'.repeat(32)), { recursive: true }); // a finished one stays
    mkdirSync(join(ENV(h), 'skeleton/rootfs/etc'), { recursive: true });
    mkdirSync(join(ENV(h), `.staging-keep.${dead}.0a0b0c0d/rootfs`), { recursive: true });
    writeFileSync(join(ENV(h), `keep/.env.json.cake-tmp-${dead}-01234567`), '{');
    writeFileSync(join(h, `cache/v1/x.${dead}.tmp`), 'partial');
    // a self-check result a failing exec could not finish writing (a full disk)
    mkdirSync(join(h, 'cache/v1/engine/self-check'), { recursive: true });
    writeFileSync(join(h, `cache/v1/engine/self-check/0123.json.${dead}.tmp`), '{"key"');
    // the work dir of a killed bake (its image under construction)
    mkdirSync(join(h, `v1/store/tmp/bake-${dead}-0a0b0c0d/farm`), { recursive: true });
    // the work dir of a recorder's faked whose cake was killed (its save file in it)
    mkdirSync(join(h, `cache/v1/engine/faked/.run.cake-tmp-${dead}-0a0b0c0d`), { recursive: true });
    writeFileSync(join(h, `cache/v1/engine/faked/.run.cake-tmp-${dead}-0a0b0c0d/save`), '');
    const gc = await cake(h, ['gc']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(readdirSync(join(h, 'cache/v1/engine/faked'))).toEqual([]);
    expect(readdirSync(outDir)).toEqual([]);
    expect(readdirSync(kernels)).toEqual(['ab'.repeat(32)]);
    expect(readdirSync(ENV(h))).toEqual(['keep']);
    expect(readdirSync(join(ENV(h), 'keep')).sort()).toEqual(['env.json', 'rootfs']);
    expect(existsSync(join(h, `cache/v1/x.${dead}.tmp`))).toBe(false);
    expect(readdirSync(join(h, 'cache/v1/engine/self-check'))).toEqual([]);
    expect(leftovers(h)).toEqual([]);
    expect((await cake(h, ['exec', 'keep', '--', 'true'])).code).toBe(0);
  });

  it('a truncated blob in the store is noticed and fetched again', async () => {
    const h = home();
    const server = await TestHttpServer.start();
    try {
      server.file('/bb.tar.gz', readFileSync(tarball));
      const url = server.url('/bb.tar.gz');
      const first = await cake(h, ['pull', url, '--name', 'u']);
      expect(first.code, first.stderr).toBe(0);
      const blobs = join(h, 'v1/store/blobs/sha256');
      const [hex] = readdirSync(blobs);
      truncateSync(join(blobs, hex!), 1000);
      expect((await cake(h, ['rm', 'u'])).code).toBe(0);
      const gets = server.requests.length;
      const again = await cake(h, ['pull', url, '--name', 'u']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain(`warning: the stored blob sha256:${hex} is damaged; it is fetched again`);
      expect(server.requests.length).toBeGreaterThan(gets);
      expect(readFileSync(join(blobs, hex!)).length).toBe(readFileSync(tarball).length);
    } finally {
      await server.close();
    }
  });
});
