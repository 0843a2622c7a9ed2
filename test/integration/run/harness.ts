import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type Options } from 'execa';
import type { GuestEnv } from '../../../src/run/engine.js';
import type { RunOptions } from '../../../src/model/run-options.js';

const REPO = resolve(import.meta.dirname, '../../..');

/**
 * Compiles src/run (and what it imports) into a temp dir with tsc, independent of the project
 * build, and writes a runner script: `node runner.mjs SPEC_JSON` calls runInEnv with SPEC and
 * exits with its code, like `cake exec` would. Returns the runner's path.
 */
export function buildRunner(): { runner: string; outDir: string } {
  const outDir = mkdtempSync(join(tmpdir(), 'cake-run-build-'));
  execFileSync(
    join(REPO, 'node_modules/.bin/tsc'),
    ['--outDir', outDir, '--rootDir', join(REPO, 'src'), '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
      '--strict', '--skipLibCheck', '--types', 'node', '--declaration', 'false', join(REPO, 'src/run/engine.ts'), join(REPO, 'src/run/self-check.ts'), join(REPO, 'src/kit/provider.ts'), join(REPO, 'src/cli/flag-of.ts')],
    { stdio: 'inherit', cwd: REPO },
  );
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
  const runner = join(outDir, 'runner.mjs');
  writeFileSync(
    runner,
    `import { runInEnv, chooseEngine } from './run/engine.js';
import { foundKits } from './kit/provider.js';
import { flagOf } from './cli/flag-of.js';
const spec = JSON.parse(process.argv[2]);
const logger = {
  info() {},
  warn(m) { process.stderr.write('warn: ' + m + '\\n'); },
  debug(m) { if (process.env.CAKE_TEST_VERBOSE) process.stderr.write('debug: ' + m + '\\n'); },
  progress() { return { update() {}, stop() {} }; },
};
const deps = { logger, hostEnv: process.env, cacheDir: spec.cacheDir, kits: foundKits };
try {
  if (spec.choose) {
    const c = await chooseEngine(spec.choose, deps, spec.env);
    process.stdout.write(JSON.stringify(c) + '\\n');
  } else {
    process.exitCode = await runInEnv(spec.env, spec.argv, spec.opts, deps);
  }
} catch (e) {
  // worded as the CLI words it (src/cli/main.ts): an OptionError names its flag
  const msg = typeof e.worded === 'function' ? e.worded(flagOf) : e.message;
  const hint = typeof e.wordedHint === 'function' ? e.wordedHint(flagOf) : e.hint;
  process.stderr.write('cake: ' + msg + '\\n' + (hint ? 'hint: ' + hint + '\\n' : ''));
  process.exitCode = e.exitCode ?? 1;
}
`,
  );
  return { runner, outDir };
}

export interface RunSpec {
  env: GuestEnv;
  argv: string[];
  opts: RunOptions;
  cacheDir: string;
}

/** The runner's argv for a spec (for node-pty and execa alike). */
export function runnerArgs(runner: string, spec: RunSpec | { choose: string; env?: GuestEnv; cacheDir: string }): string[] {
  return [runner, JSON.stringify(spec)];
}

/** Runs the runner like `cake exec` and captures its stdout, stderr and exit code. */
export async function runGuest(runner: string, spec: RunSpec, options: Options = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, runnerArgs(runner, spec), { reject: false, stdin: 'ignore', ...options });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
