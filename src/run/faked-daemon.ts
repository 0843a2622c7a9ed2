/**
 * faked-sysv on the host for the ownership recorder (ownership-recorder.ts): started loaded with
 * the env's table, stopped to read back its save file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpSibling } from '../store/atomic-write.js';
import { formatFakedSave, parseFakedSave, type FakedEntry } from '../archive/faked-save.js';
import { CakeError } from '../model/errors.js';
import type { FakerootKit } from './kit-provider.js';
import { findHostProgram } from './host-tools.js';

/** faked-sysv on the host, run in the foreground as cake's child (its own session), dying with cake. */
export class FakedDaemon {
  private constructor(
    private readonly child: ChildProcess,
    private readonly work: string,
    readonly key: string,
    readonly pid: number,
    private readonly onExit: () => void,
  ) {}

  /** Starts faked loaded with `entries`; `workParent` gets a private dir for the save file. */
  static async start(kit: FakerootKit, entries: readonly FakedEntry[], workParent: string): Promise<FakedDaemon> {
    await mkdir(workParent, { recursive: true });
    // named in the temporary scheme gc knows: a run killed with -9 leaves it, and gc removes it
    const work = tmpSibling(join(workParent, 'run'));
    await mkdir(work, { mode: 0o700 });
    const save = join(work, 'save');
    let loadFd: number | undefined;
    try {
      const args = ['--inhibit-cache', '--library-path', kit.libraryPath, kit.faked, '--foreground', '--save-file', save];
      if (entries.length > 0) {
        await writeFile(join(work, 'load'), formatFakedSave(entries));
        loadFd = openSync(join(work, 'load'), 'r');
        args.push('--load');
      }
      // faked must not outlive cake (it would keep its message queues): the kernel sends it SIGTERM
      // when cake dies, even by SIGKILL (PR_SET_PDEATHSIG, kept across setpriv's exec; faked
      // --foreground does not fork); SIGTERM, not KILL, so faked removes its queues as it goes
      const setpriv = await findHostProgram('setpriv', {});
      const argv: [string, string[]] = setpriv === undefined ? [kit.ldso, args] : [setpriv, ['--pdeathsig', 'TERM', '--', kit.ldso, ...args]];
      const child = spawn(argv[0], argv[1], { stdio: [loadFd ?? 'ignore', 'pipe', 'pipe'], detached: true, env: { PATH: '/usr/bin:/bin' } });
      const { key, pid } = await readKey(child);
      // and on a normal exit that skipped stop()
      const onExit = (): void => void child.kill('SIGTERM');
      process.once('exit', onExit);
      return new FakedDaemon(child, work, key, pid, onExit);
    } catch (err) {
      await rm(work, { recursive: true, force: true });
      throw err;
    } finally {
      if (loadFd !== undefined) closeSync(loadFd);
    }
  }

  /** Stops faked (SIGTERM makes it write its save file) and returns what it saved. */
  async stop(): Promise<FakedEntry[]> {
    process.removeListener('exit', this.onExit);
    try {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      let text: string;
      try {
        text = readFileSync(join(this.work, 'save'), 'utf8');
      } catch {
        throw new CakeError('engine', 'faked wrote no save file');
      }
      return parseFakedSave(text);
    } finally {
      await rm(this.work, { recursive: true, force: true });
    }
  }
}

/** faked prints `KEY:PID` once its message queues exist. */
function readKey(child: ChildProcess): Promise<{ key: string; pid: number }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const done = (): void => {
      clearTimeout(timer);
      child.stdout!.removeListener('data', onData);
      child.removeListener('exit', onExit);
      child.removeListener('error', onError);
      child.stdout!.resume();
    };
    const fail = (why: string): void => {
      done();
      child.kill('SIGKILL');
      reject(new CakeError('engine', `faked did not start: ${why}`));
    };
    const onData = (d: Buffer): void => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const m = /^(\d+):(\d+)$/.exec(out.slice(0, nl).trim());
      if (m === null) return fail(`unexpected output ${JSON.stringify(out.slice(0, 80))}`);
      done();
      resolve({ key: m[1]!, pid: Number(m[2]) });
    };
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => fail(err.trim() || `exited with ${code ?? sig}`);
    const onError = (e: Error): void => fail(e.message);
    const timer = setTimeout(() => fail('no key after 10 s'), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 2000) err += d.toString();
    });
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
