import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import * as pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/model/logger.js';
import { foundKits } from '../../../src/kit/provider.js';
import { chooseEngine } from '../../../src/run/engine.js';
import { defaultRunOptions } from '../../../src/model/run-options.js';
import { createBusyboxRootfs, type BusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { linkProvisionedProot, provisionTestProot } from '../../helpers/provisioned-proot.js';
import { buildRunner, runnerArgs, type RunSpec } from './harness.js';
import { skipUnless } from '../../helpers/tools.js';

/**
 * Signals and terminals: Ctrl-C typed on a real terminal (node-pty) reaches the guest's trap while
 * cake survives it, and a SIGTERM sent to cake alone is relayed to the guest.
 */
const scratch = mkdtempSync(join(tmpdir(), 'cake-run-sig-'));
const cacheDir = join(scratch, 'cache');
let rootfs: BusyboxRootfs;
let runner: string;
let runnerDir: string | undefined;
let prootOk = false;

beforeAll(async () => {
  rootfs = createBusyboxRootfs();
  ({ runner, outDir: runnerDir } = buildRunner());
  // When the host's proot fails the self-check, the proot cake provisions is used (see engines.test.ts).
  const works = (): Promise<boolean> => chooseEngine('proot', { logger: silentLogger, hostEnv: process.env, cacheDir, kits: foundKits }).then(() => true, () => false);
  prootOk = await works();
  if (!prootOk) {
    await provisionTestProot();
    linkProvisionedProot(cacheDir);
    prootOk = await works();
  }
});
afterAll(() => {
  rootfs?.cleanup();
  if (runnerDir) rmSync(runnerDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

function spec(engine: 'userns' | 'proot', argv: string[], tty: boolean): RunSpec {
  return { env: { name: 'bb', rootfs: rootfs.root }, argv, opts: defaultRunOptions({ engine, tty, isolated: true }), cacheDir };
}

/** Runs the runner on a pseudo-terminal, types Ctrl-C after `ready`, returns output and exit code. */
function ctrlC(s: RunSpec): Promise<{ output: string; code: number }> {
  return new Promise((resolve, reject) => {
    const term = pty.spawn(process.execPath, runnerArgs(runner, s), { cols: 80, rows: 24, env: { ...process.env, TERM: 'xterm' } as Record<string, string> });
    let output = '';
    let typing: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      term.kill('SIGKILL');
      reject(new Error(`timed out; output so far: ${JSON.stringify(output)}`));
    }, 25_000);
    term.onData((d) => {
      output += d;
      if (typing === undefined && output.includes('ready')) {
        // Type Ctrl-C until the trap answers: a SIGINT that lands while sh is still forking
        // `sleep` is only acted upon when sleep ends (a shell race, not an engine one); the next
        // one kills sleep and lets the pending trap run.
        typing = setInterval(() => {
          if (!output.includes('got-int')) term.write('\x03');
        }, 300);
      }
    });
    term.onExit(({ exitCode }) => {
      clearTimeout(timer);
      clearInterval(typing);
      resolve({ output, code: exitCode });
    });
  });
}

describe.each(['userns', 'proot'] as const)('%s engine', (engine) => {
  it('delivers a terminal Ctrl-C to the guest, not to cake', async (ctx) => {
    if (engine === 'proot') skipUnless(ctx, 'a proot that passes the self-check (the host\'s or a provisioned one)', prootOk);
    const r = await ctrlC(spec(engine, ['sh', '-c', 'trap "echo got-int; exit 3" INT; echo ready; sleep 30'], true));
    expect(r.output).toContain('got-int');
    expect(r.code).toBe(3);
  });

  it('relays a SIGTERM sent to cake to the guest', async (ctx) => {
    if (engine === 'proot') skipUnless(ctx, 'a proot that passes the self-check (the host\'s or a provisioned one)', prootOk);
    // A loop of short sleeps: sh runs the trap between two commands, whenever the signal lands.
    const script = 'trap "echo got-term; exit 4" TERM; echo ready; while :; do sleep 0.1; done';
    const child = execa(process.execPath, runnerArgs(runner, spec(engine, ['sh', '-c', script], false)), { reject: false, stdin: 'ignore' });
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) setTimeout(() => child.kill('SIGTERM'), 300);
    });
    const r = await child;
    expect(String(r.stdout)).toContain('got-term');
    expect(r.exitCode).toBe(4);
  });

  it('reports a guest killed by a relayed signal as 128+N', async (ctx) => {
    if (engine === 'proot') skipUnless(ctx, 'a proot that passes the self-check (the host\'s or a provisioned one)', prootOk);
    const child = execa(process.execPath, runnerArgs(runner, spec(engine, ['sh', '-c', 'echo ready; exec sleep 30'], false)), { reject: false, stdin: 'ignore' });
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) setTimeout(() => child.kill('SIGTERM'), 300);
    });
    const r = await child;
    expect(r.exitCode).toBe(143);
  });
});
