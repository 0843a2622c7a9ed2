// Cook benchmarks: a 5-step recipe on a Debian minbase base (the tarball of bench/spine.mjs,
// imported as a local SOURCE): a cold cook, a no-change rerun, and a rerun with the last step
// changed; then what the step cache costs on disk per step, next to what a full copy of the env
// per step (the naive snapshot) would cost. No image builder runs on this host (docker has no
// daemon here), so the baselines are the floors: the same steps run natively in a chroot, and
// `cp -a` of the env.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { CACHE, CAKE, have, report, rmrf, sh, time, tmp, exists } from './lib.mjs';

const tarball = join(CACHE, 'rootfs-minbase.tar.gz');
if (!exists(tarball)) {
  const dir = tmp('bench-rootfs-');
  if (have('mmdebstrap')) sh(`mmdebstrap --quiet --variant=minbase --mode=root bookworm ${dir}/root http://deb.debian.org/debian`);
  else sh(`debootstrap --variant=minbase bookworm ${dir}/root http://deb.debian.org/debian >/dev/null`);
  sh(`tar -C ${dir}/root -czf ${tarball} .`);
  rmrf(dir);
}

const runs = Number(process.env.BENCH_RUNS ?? 3);
const work = tmp('bench-cook-');
const home = join(work, 'home');
copyFileSync(tarball, join(work, 'base.tar.gz'));
mkdirSync(join(work, 'app'));
for (let i = 0; i < 20; i++) writeFileSync(join(work, 'app', `f${i}.txt`), `file ${i}\n`.repeat(200));

const STEPS = [
  'useradd --create-home --shell /bin/bash app',
  'cp -a /usr/share/doc /srv/doc-copy && cp -a /usr/share/zoneinfo /srv/zoneinfo',
];
const recipe = (last) => `name: bench
from: ./base.tar.gz
steps:
  - run: ${STEPS[0]}
  - copy: ./app
    to: /srv/app/
  - run: ${STEPS[1]}
  - env: { APP_ENV: bench }
  - run: echo ${last} > /srv/app/VERSION
`;
const cook = () => sh(`cd ${work} && CAKE_HOME=${home} ${CAKE} cook bench.yaml >/dev/null 2>&1`);

writeFileSync(join(work, 'bench.yaml'), recipe('v0'));
const rows = [];
rows.push({ name: 'cold cook (import base + 5 steps)', seconds: time(1, cook) });
rows.push({ name: 'rerun, nothing changed', seconds: time(runs, cook) });
let n = 0;
rows.push({ name: 'rerun, last step changed', seconds: time(runs, cook, () => writeFileSync(join(work, 'bench.yaml'), recipe(`v${++n}`))) });

// Floors: the same steps natively (tar -x + chroot), and a plain copy of the result.
const native = join(work, 'native');
rows.push({
  name: 'tar -xzf base + same steps in a chroot',
  seconds: time(1, () => {
    sh(`mkdir -p ${native} && tar -xzf ${tarball} -C ${native}`);
    sh(`chroot ${native} sh -c '${STEPS[0]}'`);
    sh(`mkdir -p ${native}/srv/app && cp -a ${work}/app/. ${native}/srv/app/`);
    sh(`chroot ${native} sh -c '${STEPS[1]} && echo v0 > /srv/app/VERSION'`);
  }),
});
const envRoot = join(home, 'v1/envs/bench/rootfs');
rows.push({ name: 'cp -a of the cooked env (a full copy)', seconds: time(runs, () => sh(`cp -a ${envRoot} ${work}/copy`), () => rmrf(`${work}/copy`)) });
report('cook: 5-step recipe on Debian bookworm minbase', rows, 'tar -xzf base + same steps in a chroot');

// Disk: what each step's snapshot allocated (blocks of copied files and of its directories),
// against a full copy of the env per step.
const du = (p) => Number(execFileSync('du', ['-sk', p], { encoding: 'utf8' }).split('\t')[0]) * 1024;
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
const stepsDir = join(home, 'v1/cook/steps');
const metas = readdirSync(stepsDir).map((k) => JSON.parse(readFileSync(join(stepsDir, k, 'meta.json'), 'utf8')));
const envBytes = du(envRoot);
console.log(`\n## cook: step cache on disk (env ${mib(envBytes)}; ${metas.length} entries after ${n + 1} variants of the last step)`);
const chain = [];
for (let m = metas.find((x) => x.step.includes('steps[4]')); m; m = metas.find((x) => x.key === m.parent)) chain.unshift(m);
for (const m of chain) {
  const s = m.stats;
  const what = s ? `${mib(s.diskBytes)} in ${s.ms} ms (${s.copied} copied, ${s.linked} hard-linked, ${s.dirs} dirs)` : m.tree === m.key ? 'base tree' : 'no tree change: 0 MiB';
  console.log(`${m.step.padEnd(44)} ${what}`);
}
console.log(`${'whole cache (du, hard links counted once)'.padEnd(44)} ${mib(du(stepsDir))}`);
console.log(`${'naive: a full copy of the env per step'.padEnd(44)} ${mib(envBytes * metas.length)}`);
rmrf(work);
