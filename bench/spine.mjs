// Spine benchmarks: importing a ~50 MB gzip rootfs tarball vs `gzip -dc | tar -x`, and the
// start-up cost of `cake exec ENV -- /bin/true` vs the engines run by hand.
import { CACHE, CAKE, have, report, rmrf, sh, time, tmp, exists } from './lib.mjs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const tarball = join(CACHE, 'rootfs-minbase.tar.gz');
if (!exists(tarball)) {
  // A real Debian minbase tree, as a user would import it.
  const dir = tmp('bench-rootfs-');
  if (have('mmdebstrap')) {
    sh(`mmdebstrap --quiet --variant=minbase --mode=root bookworm ${dir}/root http://deb.debian.org/debian`);
  } else {
    sh(`debootstrap --variant=minbase bookworm ${dir}/root http://deb.debian.org/debian >/dev/null`);
  }
  sh(`tar -C ${dir}/root -czf ${tarball} .`);
  rmrf(dir);
}
const size = Number(execFileSync('stat', ['-c', '%s', tarball]).toString().trim());
console.log(`# import: ${tarball} (${(size / 1048576).toFixed(1)} MiB)`);

const runs = Number(process.env.BENCH_RUNS ?? 3);
const home = tmp('bench-home-');
const target = tmp('bench-tar-');
const rows = [];
rows.push({ name: 'gzip -dc | tar -x', seconds: time(runs, () => sh(`gzip -dc ${tarball} | tar -x -C ${target}/x`), () => { rmrf(`${target}/x`); sh(`mkdir -p ${target}/x`); }) });
rows.push({ name: 'tar -xzf (one process)', seconds: time(runs, () => sh(`tar -xzf ${tarball} -C ${target}/x`), () => { rmrf(`${target}/x`); sh(`mkdir -p ${target}/x`); }) });
rows.push({ name: 'cake import', seconds: time(runs, () => sh(`CAKE_HOME=${home} ${CAKE} import ${tarball} --name b --force >/dev/null 2>&1`)) });
report('import of a gzip rootfs tarball', rows, 'gzip -dc | tar -x');

// Exec start-up cost.
const rootfs = join(home, 'v1/envs/b/rootfs');
const n = Number(process.env.BENCH_EXEC_RUNS ?? 20);
const execRows = [];
const loop = (cmd) => () => sh(`i=0; while [ $i -lt ${n} ]; do ${cmd} >/dev/null; i=$((i+1)); done`);
execRows.push({ name: `chroot ${n}x /bin/true (native)`, seconds: time(1, loop(`chroot ${rootfs} /bin/true`)) });
if (have('bwrap')) execRows.push({ name: `bwrap ${n}x /bin/true`, seconds: time(1, loop(`bwrap --unshare-user --uid 0 --gid 0 --bind ${rootfs} / --proc /proc --dev /dev /bin/true`)) });
if (have('proot')) execRows.push({ name: `proot -r ROOT ${n}x /bin/true`, seconds: time(1, loop(`proot -r ${rootfs} /bin/true`)) });
for (const engine of ['userns', 'proot']) {
  try {
    sh(`CAKE_HOME=${home} ${CAKE} exec b --engine ${engine} -- /bin/true`);
    execRows.push({ name: `cake exec --engine ${engine} ${n}x /bin/true`, seconds: time(1, loop(`CAKE_HOME=${home} ${CAKE} exec b --engine ${engine} -- /bin/true`)) });
  } catch {
    console.log(`(cake exec --engine ${engine} unavailable here)`);
  }
}
report(`exec start-up, ${n} runs each`, execRows, `chroot ${n}x /bin/true (native)`);
rmrf(home);
rmrf(target);
