// Issue 13 goal 1: `cake exec ENV -- /bin/true` start-up against Node's own (`node -e 0`), in the
// same run, interleaved (every command once per round, so a change in the host's load hits all
// alike), as wall and CPU time (user + system of the whole process tree) per call, medians over
// BENCH_STARTUP_ROUNDS rounds of BENCH_STARTUP_CALLS calls. Also shown, to place the remainder:
// `cake --version` (module loading alone) and the userns engine's own exec chain run by hand
// (unshare, the bind mounts, the chroot: what any engine run costs, cake or not).
// BENCH_STARTUP_BASE=DIR adds another built checkout's --version and exec to the same rounds.
// Results: bench/.cache/startup.json and bench/results.json (see lib.mjs). The goal: cake exec <= node -e 0 + 30 ms, CPU and wall.
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, CAKE, goal, measure, median, q, record, rmrf, tmp } from './lib.mjs';

const rounds = Number(process.env.BENCH_STARTUP_ROUNDS ?? 7);
const calls = Number(process.env.BENCH_STARTUP_CALLS ?? 10);
const work = tmp('bench-startup-');
const home = join(work, 'home');
const root = join(work, 'rootfs');
for (const d of ['bin', 'etc', 'root', 'tmp', 'dev', 'proc', 'sys']) mkdirSync(join(root, d), { recursive: true });
execFileSync('cp', ['/bin/busybox', join(root, 'bin/busybox')]);
for (const a of ['sh', 'true']) symlinkSync('busybox', join(root, 'bin', a));
writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
execFileSync('tar', ['-C', root, '-cf', join(work, 'bb.tar'), '.']);
execFileSync(CAKE, ['import', join(work, 'bb.tar'), '--name', 'bb'], { env: { ...process.env, CAKE_HOME: home }, stdio: 'ignore' });
const envRoot = join(home, 'v1/envs/bb/rootfs');
// the userns engine's chain for this env, as cake builds it (see src/run/userns-argv.ts)
const mounts = ['/dev', '/proc', '/sys', '/tmp'].map((m) => `mount --rbind ${m} ${q(envRoot + m)}`).join('\n');
const chain = `unshare --user --map-root-user --mount --uts -- sh -c ${q(`set -e\n${mounts}\nhostname bb\nexec env -i PATH=/bin unshare --root=${envRoot} --wd=/ -- "$@"`)} cake /bin/true`;
const cakeEnv = `CAKE_HOME=${q(home)} HOME=${q(work)}`;
const commands = [
  ['node -e 0', 'node -e 0'],
  ['cake --version', `${CAKE} --version >/dev/null`],
  ['cake exec bb -- /bin/true', `${cakeEnv} ${CAKE} exec bb -- /bin/true`],
  ['userns chain by hand', chain],
];
// BENCH_STARTUP_BASE=DIR: another built cake checkout (an earlier commit, say), measured in the same rounds
const base = process.env.BENCH_STARTUP_BASE;
if (base) {
  const other = q(join(base, 'bin/cake'));
  commands.push(['base: cake --version', `${other} --version >/dev/null`], ['base: cake exec bb -- /bin/true', `${cakeEnv} ${other} exec bb -- /bin/true`]);
}
const samples = new Map(commands.map(([name]) => [name, { wall: [], cpu: [] }]));
for (let r = 0; r < rounds; r++) {
  for (const [name, cmd] of commands) {
    const m = measure(`i=0; while [ $i -lt ${calls} ]; do ${cmd}; i=$((i+1)); done`);
    samples.get(name).wall.push((m.wall / calls) * 1000);
    samples.get(name).cpu.push((m.cpu / calls) * 1000);
  }
}
const results = commands.map(([name]) => ({ name, wallMs: median(samples.get(name).wall), cpuMs: median(samples.get(name).cpu) }));
const node = results[0];
console.log(`\n## start-up per call (median of ${rounds} rounds of ${calls} calls)`);
const ratio = (a, b) => (b > 0 ? a / b : NaN);
for (const r of results) {
  const vs = (k) => (r === node ? 'baseline' : `+${(r[k] - node[k]).toFixed(1)} ms, ${ratio(r[k], node[k]).toFixed(2)}x`);
  console.log(`${r.name.padEnd(28)} wall ${r.wallMs.toFixed(1).padStart(6)} ms (${vs('wallMs')})   cpu ${r.cpuMs.toFixed(1).padStart(6)} ms (${vs('cpuMs')})`);
}
const exec = results[2];
const met = exec.wallMs - node.wallMs <= 30 && exec.cpuMs - node.cpuMs <= 30;
console.log(`cake exec / node -e 0: wall ${ratio(exec.wallMs, node.wallMs).toFixed(2)}x, cpu ${ratio(exec.cpuMs, node.cpuMs).toFixed(2)}x`);
console.log(`goal (cake exec <= node -e 0 + 30 ms, wall and cpu): ${met ? 'met' : 'not met'}`);
for (const r of results) {
  r.wallRatio = ratio(r.wallMs, node.wallMs);
  r.cpuRatio = ratio(r.cpuMs, node.cpuMs);
}
const note = `median of ${rounds} rounds of ${calls} calls${base ? `; base: the checkout at ${base}` : ''}`;
record('start-up per call', results.map((r) => ({ name: r.name, seconds: r.wallMs, cpu: r.cpuMs })), node.name, 'ms', note);
const plus = (k) => `${(exec[k] - node[k]).toFixed(0)} ms`;
goal('1', '`cake exec ENV -- /bin/true` start-up <= `node -e 0` + 30 ms, wall and CPU', `+${plus('wallMs')} wall, +${plus('cpuMs')} CPU over node -e 0`, met);
mkdirSync(CACHE, { recursive: true });
writeFileSync(join(CACHE, 'startup.json'), JSON.stringify({ rounds, calls, results, goalMet: met }, null, 2) + '\n');
rmrf(work);
