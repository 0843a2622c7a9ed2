// Shared helpers for the side-by-side benchmarks: run commands N times, take the median,
// report ratios against a baseline measured in the same run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..');
export const CAKE = join(REPO, 'bin/cake');
export const CACHE = join(REPO, 'bench/.cache');
mkdirSync(CACHE, { recursive: true });

export function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

export function tmp(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function rmrf(path) {
  spawnSync('chmod', ['-R', 'u+rwX', path], { stdio: 'ignore' });
  rmSync(path, { recursive: true, force: true });
}

/** Runs `fn` (sync, returns nothing) `runs` times with `before` for setup; returns the median seconds. */
export function time(runs, fn, before = () => {}) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    before();
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

export function sh(cmd, opts = {}) {
  execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
}

export function report(title, rows, baseline) {
  const base = rows.find((r) => r.name === baseline)?.seconds;
  console.log(`\n## ${title}`);
  for (const r of rows) {
    const ratio = base ? ` ${(r.seconds / base).toFixed(2)}x ${baseline}` : '';
    console.log(`${r.name.padEnd(44)} ${r.seconds.toFixed(3)} s${r.seconds === base ? '' : ratio}`);
  }
}

export function exists(p) {
  return existsSync(p);
}
