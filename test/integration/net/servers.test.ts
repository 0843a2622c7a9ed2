import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cake, freshHome } from '../../helpers/cli.js';
import { dir, file, tar } from '../../helpers/tar-build.js';

// Journeys against real-world HTTP servers (issue 15 items 8 and 12), through the built CLI.

const STACK = /\n\s+at .+:\d+:\d+\)?$|AssertionError|ERR_ASSERTION/m;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Waits until something accepts connections on `port`. */
async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

describe('cake pull against real-world HTTP servers', () => {
  let work: string;
  let python: ChildProcess | undefined;
  let pyPort: number;
  const homes: Array<{ cleanup(): void }> = [];
  const servers: net.Server[] = [];
  const home = (): string => {
    const h = freshHome();
    homes.push(h);
    return h.home;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-servers-'));
    const www = join(work, 'www');
    execFileSync('mkdir', ['-p', www]);
    // Big enough (several MiB, incompressible) that the body is read slower than the loopback sends it.
    const members = [dir('etc/'), file('etc/hello', 'hi\n')];
    for (let i = 0; i < 6; i++) members.push(file(`data/blob-${i}`, randomBytes(1024 * 1024)));
    writeFileSync(join(www, 'root.tar.gz'), gzipSync(tar(...members)));
    writeFileSync(join(www, 'root.tar'), tar(...members));
    pyPort = await freePort();
    // python3 -m http.server speaks HTTP/1.0 and closes the connection after every body.
    python = spawn('python3', ['-m', 'http.server', String(pyPort), '--bind', '127.0.0.1', '--directory', www], { stdio: 'ignore' });
    await listening(pyPort);
  });

  afterAll(async () => {
    python?.kill('SIGTERM');
    for (const s of servers) s.close();
    for (const h of homes) h.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('pulls tarballs from python3 -m http.server, again and again, without a crash', async () => {
    const h = home();
    for (const [i, f] of ['root.tar.gz', 'root.tar', 'root.tar.gz'].entries()) {
      const r = await cake(h, ['pull', `http://127.0.0.1:${pyPort}/${f}`, '--name', `py${i}`, '--force']);
      expect(r.stderr).not.toMatch(STACK);
      expect(r.code).toBe(0);
    }
    const list = await cake(h, ['list']);
    expect(list.stdout).toMatch(/py0/);
    expect(readFileSync(join(h, 'v1', 'envs', 'py1', 'rootfs', 'etc', 'hello'), 'utf8')).toBe('hi\n');
    // No staging dir left behind.
    expect(readdirSync(join(h, 'v1', 'envs')).filter((n) => n.startsWith('.staging'))).toEqual([]);
  });

  it('gives up on a server that sends a little and stalls, saying so on a non-TTY, in bounded time', async () => {
    let requests = 0;
    const server = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => {
        requests++;
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n');
        sock.write(randomBytes(2000)); // then silence
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const h = home();
    const started = Date.now();
    const r = await cake(h, ['pull', `http://127.0.0.1:${port}/stall.tar.gz`, '--name', 'stall'], { env: { CAKE_NET_TIMEOUT: '2' } });
    const seconds = (Date.now() - started) / 1000;
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(STACK);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('warning: GET') && /no data for 2 s \(received \d+ of 10000000 bytes\); asking again/.test(l)).length).toBe(2);
    expect(lines.at(-2)).toMatch(/^cake: GET http:\/\/127\.0\.0\.1:\d+\/stall\.tar\.gz: the server stopped sending: no data for 6 s in total over 3 attempts \(received \d+ of 10000000 bytes\)$/);
    expect(lines.at(-1)).toMatch(/^hint: .*CAKE_NET_TIMEOUT/);
    expect(requests).toBe(3);
    // Three idle timeouts of 2 s (undici's timer is coarse) plus backoffs: far from 25 minutes.
    expect(seconds).toBeLessThan(60);
    expect(existsSync(join(h, 'v1', 'envs', 'stall'))).toBe(false);
  });

  it('refuses a bad CAKE_NET_TIMEOUT with a usage error', async () => {
    const r = await cake(home(), ['pull', `http://127.0.0.1:${pyPort}/root.tar`, '--name', 'x'], { env: { CAKE_NET_TIMEOUT: 'soon' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cake: CAKE_NET_TIMEOUT=soon is not a number of seconds\nhint: /);
  });

  it('refuses a redirect from the local server to plain HTTP elsewhere without --insecure', async () => {
    const server = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => sock.end('HTTP/1.1 302 Found\r\nLocation: http://deb.debian.org/debian/README\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const r = await cake(home(), ['pull', `http://127.0.0.1:${port}/x.tar.gz`, '--name', 'redir']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^cake: GET http://127\\.0\\.0\\.1:${port}/x\\.tar\\.gz: refusing the redirect from 127\\.0\\.0\\.1:${port} to plain HTTP at http://deb\\.debian\\.org/debian/README\\nhint: .*--insecure`, 'm'));
  });
});
