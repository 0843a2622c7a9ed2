// Shared helpers for the side-by-side benchmarks: run commands N times, take the median,
// report ratios against a baseline measured in the same run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
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

/**
 * The machine-readable results of `npm run bench`: bench/results.json, one entry per report()
 * section (by title; a later run replaces a section it measures again and keeps the others) and
 * one per goal of issue 13 that a benchmark judges (goal()). `node bench/table.mjs` turns it into
 * docs/BENCH.md.
 */
export const RESULTS = join(REPO, 'bench/results.json');

function updateResults(change) {
  let results = { sections: {}, goals: {} };
  try {
    results = { ...results, ...JSON.parse(readFileSync(RESULTS, 'utf8')) };
  } catch {
    // no results yet
  }
  change(results);
  writeFileSync(RESULTS, JSON.stringify(results, null, 1) + '\n');
}

const host = () => ({ when: new Date().toISOString(), node: process.version, load: loadavg()[0].toFixed(1), cpus: cpus().length });

/** Records a section: rows of { name, seconds (or ms), cpu? } against the row named `baseline`. */
export function record(title, rows, baseline, unit = 's', note = undefined) {
  updateResults((r) => {
    r.sections[title] = { baseline, unit, ...(note ? { note } : {}), ...host(), rows: rows.map((x) => ({ name: x.name, value: x.seconds, ...(x.cpu !== undefined ? { cpu: x.cpu } : {}) })) };
  });
}

/** Records a goal's verdict: its id (issue 13's numbering), what it asks, the figure and whether it is met. */
export function goal(id, text, figure, met) {
  updateResults((r) => {
    r.goals[id] = { text, figure, met, ...host() };
  });
}

export function report(title, rows, baseline) {
  record(title, rows, baseline);
  const baseRow = rows.find((r) => r.name === baseline);
  const base = baseRow?.seconds;
  console.log(`\n## ${title}`);
  for (const r of rows) {
    const ratio = base ? ` ${(r.seconds / base).toFixed(2)}x ${baseline}` : '';
    // Optional CPU time (user + system of the whole process tree), steadier than wall time on a busy host.
    const cpu = r.cpu === undefined ? '' : `   cpu ${r.cpu.toFixed(2)} s${baseRow?.cpu && r !== baseRow ? ` ${(r.cpu / baseRow.cpu).toFixed(2)}x` : ''}`;
    console.log(`${r.name.padEnd(44)} ${r.seconds.toFixed(3)} s${r.seconds === base ? '' : ratio}${cpu}`);
  }
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * Runs a shell command once; returns its wall time, its CPU time (user + system of every process
 * it waited for, from the shell's cutime/cstime) and its stdout. Throws on a non-zero exit.
 */
export function measure(cmd, opts = {}) {
  const wrapped = `{\n${cmd}\n}; rc=$?; set -- $(cut -d')' -f2 /proc/$$/stat); echo "bench-cpu-ticks $((\${14} + \${15}))"; exit $rc`;
  const t0 = process.hrtime.bigint();
  const out = execFileSync('sh', ['-c', wrapped], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /bench-cpu-ticks (\d+)\n?$/.exec(out);
  return { wall, cpu: m ? Number(m[1]) / CLK_TCK : NaN, stdout: m ? out.slice(0, m.index) : out };
}

export function exists(p) {
  return existsSync(p);
}

/** Runs a shell command and returns its stdout (stderr shown); throws on a non-zero exit. */
export function shOut(cmd, opts = {}) {
  return execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}

/** Quotes a word for sh. */
export function q(word) {
  return `'${String(word).replaceAll("'", `'\\''`)}'`;
}

/** The median of a list of numbers. */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
