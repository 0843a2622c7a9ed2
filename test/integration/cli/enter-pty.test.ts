import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as pty from 'node-pty';
import { CAKE, cake, freshHome } from '../../helpers/cli.js';
import { createBusyboxRootfs, haveBusybox } from '../../helpers/busybox-rootfs.js';
import { missing } from '../../helpers/tools.js';

/** Drives `cake enter` in a real pseudo-terminal, as a person at a keyboard would. */
class Terminal {
  output = '';
  exit: Promise<{ exitCode: number; signal?: number }>;
  private readonly p: pty.IPty;

  constructor(args: string[], env: Record<string, string>) {
    this.p = pty.spawn(CAKE, args, { name: 'xterm', cols: 100, rows: 30, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', TERM: 'xterm', ...env } });
    this.p.onData((d) => {
      this.output += d;
      // Answer cursor-position queries (busybox ash asks after each prompt) as a terminal would.
      if (d.includes('\x1b[6n')) this.p.write('\x1b[1;1R');
    });
    this.exit = new Promise((resolve) => this.p.onExit(resolve));
  }

  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const start = Date.now();
    while (!pattern.test(this.output)) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${pattern}; screen so far:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  type(text: string): void {
    this.p.write(text);
  }
}

describe.skipIf(missing('busybox-static', haveBusybox()))('cake enter in a pseudo-terminal', () => {
  let work: string;
  let h: { home: string; cleanup(): void };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cake-pty-'));
    const bb = createBusyboxRootfs(join(work, 'rootfs'));
    execFileSync('tar', ['-C', bb.root, '-czf', join(work, 'bb.tar.gz'), '.']);
    h = freshHome();
    expect((await cake(h.home, ['import', join(work, 'bb.tar.gz'), '--name', 'bb'])).code).toBe(0);
  });

  afterAll(() => {
    h?.cleanup();
    execFileSync('rm', ['-rf', work]);
  });

  for (const engine of ['auto', 'userns']) {
    it(`gives a prompt, runs typed commands, passes Ctrl-C to the guest and the exit code out (--engine ${engine})`, async () => {
      const t = new Terminal(['enter', 'bb', '--engine', engine], { CAKE_HOME: h.home, NO_COLOR: '1', PS1: 'ignored> ' });
      // A login shell as root: busybox sh shows `#` in its default prompt or our PS1.
      await t.waitFor(/[#$] (\x1b\[6n)?$/);
      t.type('echo "sum=$((6*7)) user=$(id -u)"\r');
      await t.waitFor(/sum=42 user=0/);
      t.type('cat /etc/os-release\r');
      await t.waitFor(/ID=cake-busybox/);
      // Ctrl-C reaches the guest's foreground job, not cake: the shell survives.
      t.type('sleep 30\r');
      await new Promise((r) => setTimeout(r, 500));
      t.type('\x03');
      t.type('echo after-interrupt\r');
      await t.waitFor(/after-interrupt\r?\n/);
      t.type('exit 3\r');
      const { exitCode } = await t.exit;
      expect(exitCode).toBe(3);
    });
  }
});
