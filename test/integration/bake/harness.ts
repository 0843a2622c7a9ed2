/**
 * Shared pieces of the bake/boot integration tests: a persistent CAKE_HOME under test/.cache (so
 * kernels and .debs are fetched once), `cake boot` as a live subprocess whose console a test can
 * wait on and type into, and readers of a baked image (partition offsets, debugfs stat).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { CAKE, TEST_CACHE } from '../../helpers/cli.js';
import { haveCommand } from '../../helpers/tools.js';
import { stripAnsi } from '../../../src/boot/boot-run.js';
import { readGpt } from '../../../src/bake/partition.js';

/** Kernels, .debs and the KVM probe result survive between runs here. */
export const BAKE_HOME = join(TEST_CACHE, 'bake/home');
mkdirSync(BAKE_HOME, { recursive: true });

export const haveTools = haveCommand;

export const BAKE_TOOLS = ['qemu-system-x86_64', 'qemu-img', 'mkfs.ext4', 'debugfs', 'mkfs.vfat', 'mcopy', 'syslinux'];

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

export interface Boot {
  /** Resolves when `text` appears on the console after everything waited for before. */
  waitFor(text: string, seconds: number): Promise<void>;
  send(text: string): void;
  /** The forwarded SSH port cake printed. */
  sshPort(): Promise<number>;
  console(): string;
  stderr(): string;
  done: Promise<number>;
  kill(): void;
}

/** Starts `cake boot ARGS` with CAKE_HOME=`home`; the console is stdout, typing goes to stdin. */
export function startBoot(home: string, args: string[], env: Record<string, string> = {}): Boot {
  const child = spawn(CAKE, ['boot', ...args], { env: { ...process.env, NO_COLOR: '1', ...env, CAKE_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let from = 0;
  const waiters: Array<() => void> = [];
  const poke = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on('data', (c: Buffer) => {
    out += stripAnsi(c.toString('utf8'));
    poke();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    poke();
  });
  child.stdin.on('error', () => {});
  const done = new Promise<number>((resolve) => child.on('close', (code) => {
    poke();
    resolve(code ?? 1);
  }));
  let exited = false;
  void done.then(() => (exited = true));
  const until = (check: () => boolean, what: string, seconds: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not come within ${seconds} s; console tail:\n${out.slice(-1500)}\nstderr:\n${err}`)), seconds * 1000);
      const test = (): void => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        } else if (exited) {
          clearTimeout(timer);
          reject(new Error(`cake boot exited before ${what}; console tail:\n${out.slice(-1500)}\nstderr:\n${err}`));
        } else waiters.push(test);
      };
      test();
    });
  return {
    async waitFor(text, seconds) {
      await until(() => out.indexOf(text, from) >= 0, JSON.stringify(text), seconds);
      from = out.indexOf(text, from) + text.length;
    },
    send(text) {
      child.stdin.write(text);
    },
    async sshPort() {
      await until(() => /ssh -p (\d+)/.test(err), 'the SSH port', 60);
      return Number(/ssh -p (\d+)/.exec(err)?.[1]);
    },
    console: () => out,
    stderr: () => err,
    done,
    kill: () => child.kill('SIGTERM'),
  };
}

/** Byte offset of partition `n` (1-based) of a raw image. */
export function partitionOffset(image: string, n: number): number {
  const fd = openSync(image, 'r');
  try {
    const head = Buffer.alloc(34 * 512);
    readSync(fd, head, 0, head.length, 0);
    const p = readGpt(head).partitions[n - 1];
    if (p === undefined) throw new Error(`no partition ${n} in ${image}`);
    return p.start * 512;
  } finally {
    closeSync(fd);
  }
}

/** `debugfs -R 'stat PATH'` in the root filesystem of a raw cake image: uid, gid, mode (with type bits). */
export function statInImage(image: string, path: string): { uid: number; gid: number; mode: number; type: string; atime: number; ctime: number; mtime: number } | undefined {
  const r = spawnSync('debugfs', ['-R', `stat "${path}"`, `${image}?offset=${partitionOffset(image, 2)}`], { encoding: 'utf8' });
  const m = /Type: ([a-z ]+?)\s+Mode:\s+(\d+)[\s\S]*?User:\s+(\d+)\s+Group:\s+(\d+)/.exec(r.stdout);
  if (m === null) return undefined;
  // "ctime: 0x6b03d660:00000000": seconds, then the extra field (its low 2 bits extend the epoch)
  const time = (field: string): number => {
    const t = new RegExp(`\\b${field}: 0x([0-9a-f]+):([0-9a-f]+)`).exec(r.stdout);
    return t === null ? NaN : parseInt(t[1] as string, 16) + (parseInt(t[2] as string, 16) & 3) * 2 ** 32;
  };
  return { type: m[1] as string, mode: parseInt(m[2] as string, 8), uid: Number(m[3]), gid: Number(m[4]), atime: time('atime'), ctime: time('ctime'), mtime: time('mtime') };
}

/** The text of a file in the root filesystem of a raw cake image. */
export function catInImage(image: string, path: string): string {
  return spawnSync('debugfs', ['-R', `cat "${path}"`, `${image}?offset=${partitionOffset(image, 2)}`], { encoding: 'utf8' }).stdout;
}

export const SSH_OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR'];

/** Runs `command` as root over SSH, retrying while sshd is still starting (host keys are made at first boot). */
export async function sshUntilUp(key: string, port: number, command: string, seconds: number): Promise<string> {
  const until = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < until) {
    const r = spawnSync('ssh', [...SSH_OPTS, '-i', key, '-p', String(port), 'root@127.0.0.1', command], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return r.stdout;
    last = `${r.status} ${r.stderr}`;
    await new Promise((res) => setTimeout(res, 3000));
  }
  throw new Error(`ssh never succeeded: ${last}`);
}

/** Makes the guest print `marker` on its serial console (what `cake boot --expect` waits for), over SSH. */
export function sshMarker(key: string, port: number, marker: string): void {
  spawnSync('ssh', [...SSH_OPTS, '-i', key, '-p', String(port), 'root@127.0.0.1', `echo ${marker} > /dev/ttyS0`], { timeout: 30_000 });
}

/** `ls -p` of every directory of the root filesystem: path → "mode uid:gid size" (BFS, one debugfs run per level). */
function listImage(image: string): Map<string, string> {
  const dev = `${image}?offset=${partitionOffset(image, 2)}`;
  const rows = new Map<string, string>();
  let level = ['/'];
  while (level.length > 0) {
    const script = level.map((d) => `ls -p "${d}"\n`).join('');
    const out = spawnSync('debugfs', ['-f', '-', dev], { input: script, encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
    const next: string[] = [];
    let dir = '/';
    for (const line of out.split('\n')) {
      const cmd = /^debugfs: ls -p "(.*)"$/.exec(line);
      if (cmd !== null) dir = cmd[1] as string;
      const m = /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line);
      if (m === null || m[5] === '.' || m[5] === '..') continue;
      const path = `${dir === '/' ? '' : dir}/${m[5]}`;
      rows.set(path, `mode ${m[2]} owner ${m[3]}:${m[4]} size ${m[6]}`);
      if (/^0?40/.test(m[2] as string)) next.push(path);
    }
    level = next;
  }
  return rows;
}

/**
 * Why two raw cake images differ, or undefined when their bytes are the same: the first differing
 * byte and its partition, and for the root filesystem the first path whose mode, owner or size
 * differs, else the first differing superblock field.
 */
export function imageDifference(a: string, b: string): string | undefined {
  const cmp = spawnSync('cmp', [a, b], { encoding: 'utf8' });
  if (cmp.status === 0) return undefined;
  const at = /byte (\d+)/.exec(cmp.stdout);
  if (at === null) return `${a} and ${b} differ: ${cmp.stdout}${cmp.stderr}`.trim();
  const byte = Number(at[1]) - 1;
  const fd = openSync(a, 'r');
  const head = Buffer.alloc(34 * 512);
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  let parts: ReturnType<typeof readGpt>['partitions'] = [];
  try {
    parts = readGpt(head).partitions;
  } catch {
    return `first differing byte ${byte} (not a raw GPT image)`;
  }
  const n = parts.findIndex((p) => byte >= p.start * 512 && byte < (p.start + p.sectors) * 512);
  const where = `first differing byte ${byte} (${n < 0 ? 'outside the partitions' : `partition ${n + 1}`})`;
  if (n !== 1) return where;
  const [la, lb] = [listImage(a), listImage(b)];
  for (const p of [...new Set([...la.keys(), ...lb.keys()])].sort()) {
    if (la.get(p) !== lb.get(p)) return `${where}: ${p}: ${la.get(p) ?? 'absent'} ≠ ${lb.get(p) ?? 'absent'}`;
  }
  const sb = (img: string): string[] => spawnSync('dumpe2fs', ['-h', `${img}?offset=${partitionOffset(img, 2)}`], { encoding: 'utf8' }).stdout.split('\n');
  const [sa, sbb] = [sb(a), sb(b)];
  for (let i = 0; i < Math.max(sa.length, sbb.length); i++) {
    if (sa[i] !== sbb[i] && !/^Checksum:/.test(sa[i] ?? '')) return `${where}: superblock ${JSON.stringify(sa[i])} ≠ ${JSON.stringify(sbb[i])}`;
  }
  return `${where}: same superblock and listing (a time, content or layout differs)`;
}
