// Foreign-architecture build: `cake pull debian:bookworm --platform linux/arm64` (minbase) vs
// `mmdebstrap --arch=arm64 --variant=minbase` in the same run, from the same mirror, each into
// a fresh place (packages downloaded by both; run BENCH_RUNS times, median). mmdebstrap needs the
// kernel's binfmt_misc handler for arm64 (qemu-user-static registered) and arch-test; where it
// cannot run, cake's time is still printed and the missing peer said, never a made-up ratio.
// BENCH_FOREIGN_VARIANT=essential for a shorter run.
import { spawnSync } from 'node:child_process';
import { CAKE, have, measure, q, report, rmrf, tmp } from './lib.mjs';

const MIRROR = process.env.CAKE_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const variant = process.env.BENCH_FOREIGN_VARIANT ?? 'minbase';
const [platform, debArch] = process.arch === 'arm64' ? ['linux/amd64', 'amd64'] : ['linux/arm64', 'arm64'];
const runs = Number(process.env.BENCH_RUNS ?? 1);


const rows = [];
const median = (xs) => xs.sort((a, b) => a.wall - b.wall)[Math.floor(xs.length / 2)];

const cakeRuns = [];
for (let i = 0; i < runs; i++) {
  const home = tmp('bench-foreign-home-');
  cakeRuns.push(measure(`CAKE_HOME=${q(home)} ${CAKE} pull debian:bookworm --platform ${platform} --variant ${variant} --name f >/dev/null 2>&1`));
  rmrf(home);
}
const c = median(cakeRuns);
rows.push({ name: `cake pull --platform ${platform} (${variant})`, seconds: c.wall, cpu: c.cpu });

const mmBase = `mmdebstrap --arch=${debArch} ${variant}`;
let mmWhy = '';
if (!have('mmdebstrap')) mmWhy = 'mmdebstrap is not installed';
else if (!have('arch-test')) mmWhy = 'arch-test is not installed (mmdebstrap needs it for a foreign architecture)';
else if (spawnSync('arch-test', [debArch], { stdio: 'ignore' }).status !== 0) mmWhy = `the kernel has no binfmt_misc handler for ${debArch} (mmdebstrap needs one; register qemu-user-static's)`;
if (mmWhy === '') {
  const mmRuns = [];
  for (let i = 0; i < runs; i++) {
    const dir = tmp('bench-foreign-mm-');
    mmRuns.push(measure(`mmdebstrap --quiet --mode=root --arch=${debArch} --variant=${variant} bookworm ${q(`${dir}/out.tar`)} ${q(MIRROR)}`));
    rmrf(dir);
  }
  const m = median(mmRuns);
  rows.unshift({ name: mmBase, seconds: m.wall, cpu: m.cpu });
} else {
  console.log(`\n(${mmBase} not run: ${mmWhy}; no ratio)`);
}
report(`foreign-architecture build: bookworm ${variant} for ${debArch} on ${process.arch}`, rows, mmBase);
