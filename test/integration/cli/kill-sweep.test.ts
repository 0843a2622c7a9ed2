/**
 * The kill sweep (issue 15 item 13): kill -9 and Ctrl-C (SIGINT) at a bounded number of moments
 * of pull (local tarball, URL, registry), cook, export, push and rm. After each kill: no half env,
 * no lock that blocks the rerun, the rerun gives the same result as an uninterrupted run, SIGINT
 * ends with 130 (or 0 when the command had finished), and after `cake gc` no leftover remains.
 * The moments are fractions of the uninterrupted run's duration (so they land inside the work
 * whatever the machine's speed). The bake is of a busybox env with a fake bzImage (nothing boots;
 * the image is built whole): its homes start as copies of one warm home, so the bootloader .debs
 * are fetched from the Debian archive once. An archive (Debian) pull is not in the sweep: one
 * uninterrupted run takes minutes and needs the network; its staging and tree-cache paths are
 * the ones the local pulls use.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingCommands } from '../../helpers/tools.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAKE, cake, freshHome, type CakeResult } from '../../helpers/cli.js';
import { fakeBzImage } from '../../helpers/fake-kernel.js';
import { createBusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { TestHttpServer } from '../../helpers/http-server.js';
import { TestRegistry, uploadImage } from '../../helpers/registry.js';
import { removeTreeSync } from '../../../src/archive/remove-tree.js';
import { image, layer } from '../oci/images.js';

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const BAKE_TOOLS = ['mkfs.ext4', 'mkfs.vfat', 'mcopy', 'syslinux'];

const SDE = { SOURCE_DATE_EPOCH: '1700000000' };

interface Scenario {
  name: string;
  /** Makes what the command needs in a fresh home (runs uninterrupted). */
  prepare(h: string): Promise<void>;
  args(h: string): string[];
  /** The outcome to compare between the reference run and a rerun after a kill. */
  outcome(h: string, r: CakeResult): string | Promise<string>;
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** What must not be left once gc ran: staging/trash dirs, skeletons, locks, temporaries. */
function leftovers(h: string, outDir: string): string[] {
  const out: string[] = [];
  const envs = join(h, 'v1/envs');
  for (const e of readdirSafe(envs)) if (e.startsWith('.') || !existsSync(join(envs, e, 'env.json'))) out.push(`envs/${e}`);
  for (const e of readdirSafe(join(h, 'v1/locks'))) if (e.endsWith('.lock') || e.includes('cake-tmp')) out.push(`locks/${e}`);
  for (const e of readdirSafe(join(h, 'v1/locks/use'))) out.push(`locks/use/${e}`);
  for (const e of readdirSafe(join(h, 'v1/store/tmp'))) if (!/^download-.*\.part$/.test(e)) out.push(`tmp/${e}`);
  for (const e of readdirSafe(outDir)) if (e.includes('cake-tmp')) out.push(`out/${e}`);
  return out;
}

/** No half env: every env dir has its record and runs. */
async function noHalfEnv(h: string): Promise<void> {
  const envs = join(h, 'v1/envs');
  for (const e of readdirSafe(envs)) {
    if (e.startsWith('.')) continue; // staging/trash: invisible, swept later
    expect(existsSync(join(envs, e, 'env.json')), `envs/${e} without env.json`).toBe(true);
    const r = await cake(h, ['exec', e, '--', '/bin/true']);
    expect(r.code, `${e}: ${r.stderr}`).toBe(0);
  }
}

describe('kill sweep: kill -9 and SIGINT at moments of each command (built CLI)', () => {
  let work: string;
  let tarball: string;
  let reg: TestRegistry;
  let server: TestHttpServer;
  /** A home with env `bb` that has baked once (the bootloader .debs are in its store). */
  let warm: string;
  const homes: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-kill-'));
    // the bake's env: busybox alone (the image's size, and so the bake's time, stays small)
    const small = createBusyboxRootfs(join(work, 'bb-small'));
    const smallTarball = join(work, 'small.tar.gz');
    execFileSync('tar', ['-C', small.root, '--numeric-owner', '--owner=0', '--group=0', '-czf', smallTarball, '.']);
    const bb = createBusyboxRootfs(join(work, 'bb'));
    // enough work to be inside: 600 small files and 8 MiB of incompressible data
    mkdirSync(join(bb.root, 'data/many'), { recursive: true });
    for (let i = 0; i < 600; i++) writeFileSync(join(bb.root, 'data/many', `f${i}`), `file ${i}\n`);
    writeFileSync(join(bb.root, 'data/blob'), randomBytes(8 << 20));
    tarball = join(work, 'rootfs.tar.gz');
    execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-czf', tarball, '.']);
    const raw = execFileSync('tar', ['-C', bb.root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], { maxBuffer: 1 << 28 });
    reg = await TestRegistry.start();
    await uploadImage(reg, 'demo/app', 'v1', image([layer(raw, 'gzip')], { arch: HOST_ARCH }));
    server = await TestHttpServer.start();
    const data = readFileSync(tarball);
    // served in slices with pauses: the download takes about a second
    server.handle('/rootfs.tar.gz', async (_req, res) => {
      res.writeHead(200, { 'content-length': String(data.length) });
      const slice = Math.ceil(data.length / 20);
      for (let at = 0; at < data.length; at += slice) {
        if (!res.write(data.subarray(at, at + slice))) await new Promise((r) => res.once('drain', r));
        await new Promise((r) => setTimeout(r, 50));
      }
      res.end();
    });
    fakeBzImage(join(work, 'bzImage'));
    if (missingCommands(...BAKE_TOOLS) === false) {
      warm = freshHome('cake-kill-warm-').home;
      homes.push(warm);
      expect((await cake(warm, ['pull', smallTarball, '--name', 'bb'])).code).toBe(0);
      const baked = await cake(warm, ['bake', 'bb', '-o', join(work, 'warm.img'), '--kernel', join(work, 'bzImage')], { timeout: 300_000 });
      expect(baked.code, baked.stderr).toBe(0);
    }
    writeFileSync(
      join(work, 'app.yaml'),
      `name: cooked\nfrom: ./rootfs.tar.gz\nsteps:\n  - run: cp -r /data/many /srv-many\n  - run: echo done > /etc/done\n`,
    );
  });

  afterAll(async () => {
    await server?.close();
    await reg?.stop();
    for (const h of homes) removeTreeSync(h);
    if (work) removeTreeSync(work);
  });

  const pulled = (name: string) => async (h: string) => {
    const r = await cake(h, ['pull', tarball, '--name', name]);
    expect(r.code, r.stderr).toBe(0);
  };
  const stdoutOutcome = (_h: string, r: CakeResult) => r.stdout;

  const scenarios: Scenario[] = [
    { name: 'pull (local tarball)', prepare: async () => {}, args: () => ['pull', tarball, '--name', 'local'], outcome: stdoutOutcome },
    { name: 'pull (URL)', prepare: async () => {}, args: () => ['pull', server.url('/rootfs.tar.gz'), '--name', 'url'], outcome: stdoutOutcome },
    { name: 'pull (registry)', prepare: async () => {}, args: () => ['pull', `docker://${reg.host}/demo/app:v1`, '--name', 'img'], outcome: stdoutOutcome },
    { name: 'cook', prepare: async () => {}, args: () => ['cook', join(work, 'app.yaml')], outcome: stdoutOutcome },
    {
      name: 'export',
      prepare: pulled('src'),
      args: (h) => ['export', 'src', join(h, 'out', 'src.tar.gz')],
      outcome: (h) => createHash('sha256').update(readFileSync(join(h, 'out', 'src.tar.gz'))).digest('hex'),
    },
    {
      name: 'push',
      prepare: pulled('src'),
      args: (h) => ['push', 'src', `docker://${reg.host}/out/${h.slice(-6).toLowerCase()}:v1`],
      // the tag serves what the push printed, and the layer is the one an uninterrupted push sends
      // (the config differs between envs: it carries the env's creation time)
      outcome: async (h, r) => {
        const repo = `out/${h.slice(-6).toLowerCase()}`;
        const res = await fetch(`${reg.origin}/v2/${repo}/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
        const body = Buffer.from(await res.arrayBuffer());
        expect(r.stdout).toBe(`docker://${reg.host}/${repo}:v1@sha256:${createHash('sha256').update(body).digest('hex')}`);
        return (JSON.parse(body.toString()) as { layers: { digest: string }[] }).layers.map((l) => l.digest).join(',');
      },
    },
    {
      name: 'bake',
      prepare: async (h) => {
        execFileSync('cp', ['-a', '--reflink=auto', `${warm}/.`, h]);
      },
      args: (h) => ['bake', 'bb', '-o', join(h, 'out', 'bb.img'), '--kernel', join(work, 'bzImage')],
      outcome: (h) => createHash('sha256').update(readFileSync(join(h, 'out', 'bb.img'))).digest('hex'),
    },
    { name: 'rm', prepare: pulled('gone'), args: () => ['rm', 'gone'], outcome: (h) => String(existsSync(join(h, 'v1/envs/gone'))) },
  ];

  const fresh = (): string => {
    const h = freshHome('cake-kill-').home;
    homes.push(h);
    mkdirSync(join(h, 'out'));
    return h;
  };

  for (const s of scenarios) {
    const skip = s.name === 'bake' && missingCommands(...BAKE_TOOLS);
    it.skipIf(skip)(`${s.name}: killed at three moments (SIGKILL, SIGINT, SIGKILL)`, async () => {
      // the uninterrupted run: its outcome and duration
      const ref = fresh();
      await s.prepare(ref);
      await noHalfEnv(ref); // what the check after a kill does to the envs (exec makes mount points)
      const t0 = Date.now();
      const done = await cake(ref, s.args(ref), { cwd: work, env: SDE });
      const took = Date.now() - t0;
      expect(done.code, done.stderr).toBe(0);
      const want = await s.outcome(ref, done);
      for (const [fraction, sig] of [
        [0.25, 'SIGKILL'],
        [0.5, 'SIGINT'],
        [0.75, 'SIGKILL'],
      ] as const) {
        const h = fresh();
        await s.prepare(h);
        const child = spawn(CAKE, s.args(h), { cwd: work, env: { ...process.env, ...SDE, CAKE_HOME: h, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
        await new Promise((r) => setTimeout(r, Math.max(50, took * fraction)));
        child.kill(sig);
        const end = await exited;
        const where = `${s.name} at ${fraction} with ${sig}: ${stderr}`;
        // 130, or 0 when it had finished; killed by the signal itself when it came before node set
        // up its handler (the shell reports that as 130 too)
        if (sig === 'SIGINT') expect(end.code === 0 || end.code === 130 || end.signal === 'SIGINT', `${where} (${end.code}, ${end.signal})`).toBe(true);
        else expect(end.signal === 'SIGKILL' || end.code === 0, where).toBe(true);
        expect(stderr, where).not.toMatch(/bug in cake|at .*\.js:\d+/);
        await noHalfEnv(h);
        // no lock blocks the rerun, and it gives what an uninterrupted run gives
        const again = await cake(h, s.args(h), { cwd: work, env: SDE });
        if (s.name === 'rm' && again.code === 1) expect(again.stderr, where).toContain('no environment named gone');
        else expect(again.code, `${where}\nrerun: ${again.stderr}`).toBe(0);
        expect(again.stderr, where).not.toContain('waiting for another cake process');
        expect(await s.outcome(h, again), where).toBe(want);
        const gc = await cake(h, ['gc']);
        expect(gc.code, gc.stderr).toBe(0);
        expect(leftovers(h, join(h, 'out')), where).toEqual([]);
      }
    });
  }
});
