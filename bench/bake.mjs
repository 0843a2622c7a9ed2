// Bake benchmarks: `cake bake` of a Debian env (minbase + systemd + OpenSSH + kernel) vs
// `mkfs.ext4 -d` of the same tree alone (the floor: what any ext4 image of the tree costs); the time
// from `cake boot` to the login prompt with KVM (when it really works here) and with TCG; the image
// size against the tree size.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CACHE, CAKE, exists, have, median, q, report, rmrf, sh, shOut, tmp } from './lib.mjs';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const home = join(CACHE, 'bake-home');
const env = 'bench-debian';
const cake = (args) => `CAKE_HOME=${q(home)} ${CAKE} ${args}`;

if (!have('qemu-system-x86_64') || !have('mkfs.ext4')) {
  console.log('# bake: qemu-system-x86 and e2fsprogs are needed; skipped');
} else {
  const listed = spawnSync('sh', ['-c', cake('list --json')], { encoding: 'utf8' });
  if (!(listed.status === 0 && JSON.parse(listed.stdout).some((e) => e.name === env))) {
    console.log('# bake: building the Debian env once (cake pull from the archive)');
    sh(cake(`pull debian:bookworm --variant minbase --packages systemd-sysv,udev,openssh-server,linux-image-amd64 --name ${env} --force >/dev/null`));
  }
  const rootfs = join(home, 'v1/envs', env, 'rootfs');
  const work = tmp('bench-bake-');
  sh(`ssh-keygen -q -t ed25519 -N '' -f ${q(join(work, 'key'))}`);
  const image = join(work, 'd.img');
  const bakeCmd = cake(`bake ${env} -o ${q(image)} --ssh-key ${q(join(work, 'key.pub'))} 2>&1`);
  // Warm-up: fetches the kernel into the store and unpacks it into the cache (not measured).
  const warm = shOut(bakeCmd);
  const rootMiB = Number(/root filesystem: (\d+) MiB/.exec(warm)?.[1] ?? 1024);

  const bakeTimes = [];
  const floorTimes = [];
  for (let i = 0; i < runs; i++) {
    let t0 = process.hrtime.bigint();
    shOut(bakeCmd);
    bakeTimes.push(Number(process.hrtime.bigint() - t0) / 1e9);
    rmrf(join(work, 'floor.img'));
    t0 = process.hrtime.bigint();
    sh(`mkfs.ext4 -q -F -d ${q(rootfs)} ${q(join(work, 'floor.img'))} ${rootMiB}M`);
    floorTimes.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  report(`bake of a Debian env (${rootMiB} MiB root filesystem), median of ${runs}`, [
    { name: 'mkfs.ext4 -d of the tree alone (floor)', seconds: median(floorTimes) },
    { name: 'cake bake (raw, BIOS+EFI, kernel cached)', seconds: median(bakeTimes) },
  ], 'mkfs.ext4 -d of the tree alone (floor)');
  // where a bake's time goes (cake -v prints the stages)
  const stages = /stages: (.*)/.exec(shOut(cake(`-v bake ${env} -o ${q(image)} --ssh-key ${q(join(work, 'key.pub'))} 2>&1`)))?.[1];
  if (stages) console.log(`(stages of one more bake: ${stages})`);

  // Boot to the login prompt.
  const bootRows = [];
  const boot = (accel, firmware) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', `CAKE_BOOT_ACCEL=${accel} CAKE_BOOT_FIRMWARE=${firmware} ${cake(`boot ${q(image)} --expect 'login:' --timeout 600 -- -snapshot`)} >/dev/null`], { encoding: 'utf8' });
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, ok: r.status === 0, stderr: r.stderr };
  };
  const probe = spawnSync('sh', ['-c', `${cake(`boot ${q(image)} --expect 'Linux version' --timeout 600 -- -snapshot`)} >/dev/null`], { encoding: 'utf8' });
  const kvm = /, KVM: /.test(probe.stderr);
  for (const firmware of ['bios', 'efi']) {
    if (kvm) {
      const r = boot('kvm', firmware);
      if (r.ok) bootRows.push({ name: `cake boot → login: (KVM, ${firmware.toUpperCase()})`, seconds: r.seconds });
    }
    const r = boot('tcg', firmware);
    if (r.ok) bootRows.push({ name: `cake boot → login: (TCG, ${firmware.toUpperCase()})`, seconds: r.seconds });
    else console.log(`(boot with TCG/${firmware} failed: ${r.stderr.trim().split('\n').pop()})`);
  }
  if (!kvm) console.log(`(KVM: not used here — ${/TCG: (.*)/.exec(probe.stderr)?.[1] ?? 'no KVM'})`);
  // issue 10's journey: a Debian env with systemd and OpenSSH but no udev (cake's DHCP, gettys without device waits)
  const journey = 'bench-noudev';
  const listed2 = spawnSync('sh', ['-c', cake('list --json')], { encoding: 'utf8' });
  if (!(listed2.status === 0 && JSON.parse(listed2.stdout).some((e) => e.name === journey))) {
    sh(cake(`pull debian:bookworm --packages systemd-sysv,openssh-server --name ${journey} --force >/dev/null 2>&1`));
  }
  const jimg = join(work, 'journey.img');
  sh(cake(`bake ${journey} -o ${q(jimg)} >/dev/null 2>&1`));
  {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', `CAKE_BOOT_ACCEL=tcg CAKE_BOOT_FIRMWARE=bios ${cake(`boot ${q(jimg)} --expect 'login:' --timeout 600 -- -snapshot`)} >/dev/null`], { encoding: 'utf8' });
    if (r.status === 0) bootRows.push({ name: 'cake boot → login: (TCG, BIOS, no udev)', seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    else console.log(`(boot of the no-udev image failed: ${r.stderr.trim().split('\n').pop()})`);
  }
  report('boot of the baked image to the login prompt (one run each)', bootRows, bootRows[0]?.name);

  // Sizes.
  const qcow = join(work, 'd.qcow2');
  sh(cake(`bake ${env} -o ${q(qcow)} --format qcow2 --ssh-key ${q(join(work, 'key.pub'))} >/dev/null 2>&1`));
  const bytes = (cmd) => Number(execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
  const tree = bytes(`du -s --apparent-size -B1 ${q(rootfs)}`);
  const treeDisk = bytes(`du -s -B1 ${q(rootfs)}`);
  const rawApparent = bytes(`stat -c %s ${q(image)}`);
  const rawDisk = bytes(`du -B1 ${q(image)}`);
  const qcowSize = bytes(`stat -c %s ${q(qcow)}`);
  const mib = (n) => `${(n / 1048576).toFixed(0)} MiB`;
  console.log('\n## image size vs tree size');
  console.log(`${'tree (apparent / on disk)'.padEnd(44)} ${mib(tree)} / ${mib(treeDisk)}`);
  console.log(`${'raw image (apparent / allocated, sparse)'.padEnd(44)} ${mib(rawApparent)} / ${mib(rawDisk)}   ${(rawDisk / treeDisk).toFixed(2)}x tree on disk`);
  console.log(`${'qcow2 image'.padEnd(44)} ${mib(qcowSize)}   ${(qcowSize / treeDisk).toFixed(2)}x tree on disk`);
  if (!exists(image)) console.log('(no image?)');
  rmrf(work);
}
