// Engine benchmarks, every engine in the same run on the same tree, reported as ratios to native:
//  1. 300 fork/execs of /bin/true in a shell loop (timed inside the guest, so the start-up of
//     cake or proot is not counted; wall time is reported too);
//  2. `dpkg --install --force-depends` of the 69 .debs of bookworm's essential set (resolved and
//     fetched by cake's own resolver and archive client) into a bookworm essential tree, under
//     the guest's fakeroot (the user-namespace engine maps only root, so chown to other ids needs
//     it; every engine runs the same command). A plain root dpkg is shown as a reference.
// Engines: native (root, chroot in a private mount namespace), Debian's proot (the system one),
// cake's provisioned proot run by hand with the arguments cake uses, and `cake exec` with
// --engine proot and --engine userns. Runs are interleaved (every engine once per round) so that
// a change in the host's load hits all alike; the median wall time is reported with the median
// CPU time (user + system of the whole process tree), which a busy host disturbs less. Needs root
// (for the native baseline) and mmdebstrap (for the tree, built once into bench/.cache/engine/).
// BENCH_RUNS (default 3) sets the rounds of dpkg; the fork/exec loop, short and so noisier, gets
// at least 7 (BENCH_LOOP_RUNS).
// 3. The cost of ownership recording (issue 16): `cake exec ENV -- true` with recording (faked on
//    the host, libfakeroot in the guest, the table loaded and written back) against
//    CAKE_NO_FAKEROOT=1, and `dpkg --install` of the essential set recorded by cake's kit against
//    the guest's own fakeroot with recording off, on both engines. BENCH_ENGINE=recording runs
//    only this part. The rows of 1 and 2 run `cake exec` with CAKE_NO_FAKEROOT=1 (the guest's
//    fakeroot is in the command), as they did before cake recorded every env.
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { machine } from 'node:os';
import { basename, join } from 'node:path';
import { CACHE, CAKE, REPO, exists, have, measure, median, q, report, rmrf, sh, shOut } from './lib.mjs';

const MIRROR = 'http://deb.debian.org/debian';
const ARCH = { x86_64: 'amd64', aarch64: 'arm64' }[machine()];
const dir = join(CACHE, 'engine');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const dpkgRuns = runs;
const loopRuns = Number(process.env.BENCH_LOOP_RUNS ?? Math.max(7, runs));
const GUEST_ENV = {
  PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LC_ALL: 'C.UTF-8',
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
  // Only uid 0 exists in a user namespace (chown to 42 is EINVAL, which libfakeroot does not
  // mask): fakeroot records ownership without trying the real chown, under every engine alike.
  FAKEROOTDONTTRYCHOWN: '1',
};
const envWords = Object.entries(GUEST_ENV).map(([k, v]) => q(`${k}=${v}`)).join(' ');
const LOOP = 's=$(date +%s%N); i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done; e=$(date +%s%N); echo $(( (e - s) / 1000 ))';
const DPKG = 'fakeroot dpkg --install --force-depends /debs/*.deb >/tmp/dpkg.log 2>&1 || { tail -20 /tmp/dpkg.log >&2; exit 1; }';
const DPKG_AS_ROOT = DPKG.replace('fakeroot ', '');

const silent = { info() {}, warn: (m) => console.log(`warning: ${m}`), debug() {}, progress: () => ({ update() {}, stop() {} }) };

/** The 69 .debs of bookworm's essential set, through cake's resolver and archive client (cached). */
async function essentialDebs() {
  const out = join(dir, 'essential-debs');
  if (exists(join(out, '.complete'))) return out;
  const { ArchiveClient, toPackageIndex } = await import(join(REPO, 'dist/debian/archive-client.js'));
  const { resolve } = await import(join(REPO, 'dist/debian/resolver.js'));
  const { HttpClient } = await import(join(REPO, 'dist/net/http-client.js'));
  const { BlobStore } = await import(join(REPO, 'dist/store/blobs.js'));
  const { resolvePaths } = await import(join(REPO, 'dist/store/paths.js'));
  const paths = resolvePaths({ CAKE_HOME: join(dir, 'store') });
  const blobs = new BlobStore(paths);
  const http = new HttpClient({ logger: silent });
  try {
    const client = new ArchiveClient({ http, blobs, paths, logger: silent }, { mirror: MIRROR, suites: ['bookworm'], components: ['main'], arch: ARCH, keyring: 'debian' });
    const index = toPackageIndex(await client.loadIndices());
    const { packages } = resolve(index, { install: [], variant: 'essential', recommends: false, arch: ARCH });
    const stored = await client.fetchDebs(packages);
    rmrf(out);
    mkdirSync(out, { recursive: true });
    for (const p of packages) copyFileSync(stored.get(p.sha256), join(out, basename(p.filename)));
    writeFileSync(join(out, '.complete'), packages.map((p) => `${p.name} ${p.version}`).join('\n') + '\n');
  } finally {
    await http.close();
  }
  return out;
}

/** A bookworm essential tree (plus fakeroot) from bookworm main only, so versions match the debs. */
function essentialTree() {
  const tar = join(dir, 'essential-fakeroot.tar');
  if (!exists(tar)) {
    sh(`mmdebstrap --quiet --variant=essential --mode=root --include=fakeroot bookworm ${q(tar)} ${q(`deb ${MIRROR} bookworm main`)}`);
  }
  return tar;
}

async function main() {
  if (process.getuid?.() !== 0) return console.log('\n(engine benchmark skipped: the native chroot baseline needs root)');
  if (ARCH === undefined) return console.log(`\n(engine benchmark skipped: no provisioned proot for ${machine()})`);
  if (!have('mmdebstrap')) return console.log('\n(engine benchmark skipped: needs mmdebstrap for the bookworm tree)');
  mkdirSync(dir, { recursive: true });
  const debs = await essentialDebs();
  const debNames = readdirSync(debs).filter((f) => f.endsWith('.deb'));
  const tar = essentialTree();

  // cake's own env of the tree, in a persistent home (the provisioned proot stays there).
  const home = join(dir, 'home');
  const cake = (args) => `CAKE_HOME=${q(home)} ${q(CAKE)} ${args}`;
  sh(cake(`import ${q(tar)} --name ess --force >/dev/null`));
  const root = join(home, 'v1/envs/ess/rootfs');
  const pristine = join(dir, 'pristine');
  rmrf(pristine);
  mkdirSync(join(root, 'debs'), { recursive: true });
  for (const f of debNames) copyFileSync(join(debs, f), join(root, 'debs', f));
  // ischroot says "not a chroot" under proot only, and libc6's postinst then waits for init:
  // every engine gets the same answer.
  sh(`chroot ${q(root)} dpkg-divert --quiet --local --rename --add /usr/bin/ischroot 2>/dev/null && ln -s true ${q(join(root, 'usr/bin/ischroot'))}`);
  sh(`cp -a ${q(root)} ${q(pristine)}`);
  const restore = () => {
    rmSync(root, { recursive: true, force: true });
    sh(`cp -a ${q(pristine)} ${q(root)}`);
  };

  // Which proot cake uses, provisioning it on the first run (one line printed).
  const { chooseEngine } = await import(join(REPO, 'dist/run/engine.js'));
  const { HttpClient } = await import(join(REPO, 'dist/net/http-client.js'));
  const { BlobStore } = await import(join(REPO, 'dist/store/blobs.js'));
  const { resolvePaths } = await import(join(REPO, 'dist/store/paths.js'));
  const paths = resolvePaths({ CAKE_HOME: home });
  const http = new HttpClient({ logger: silent });
  const logger = { ...silent, info: (m) => console.log(m) };
  const { archiveKits } = await import(join(REPO, 'dist/kit/provider.js'));
  const proot = await chooseEngine('proot', { logger, hostEnv: process.env, cacheDir: join(paths.cache, 'engine'), kits: archiveKits({ http: async () => http, blobs: new BlobStore(paths), paths }) });
  await http.close();
  console.log(`\n# engines: cake's proot engine uses ${proot.binary}: ${proot.reason}`);
  console.log(`# tree: bookworm essential + fakeroot (${tar}); ${debNames.length} essential .debs from cake's resolver`);

  const binds = '-b /dev -b /proc -b /sys';
  const engines = [
    { name: 'native (root, chroot)', cmd: (c) => `unshare -m sh -c ${q(`mount --rbind /dev ${q(root)}/dev && mount -t proc proc ${q(root)}/proc && mount --rbind /sys ${q(root)}/sys && exec chroot ${q(root)} /usr/bin/env -i ${envWords} sh -c ${q(c)}`)}` },
    ...(have('proot') ? [{ name: `Debian's proot (${shOut('proot --version 2>&1 | grep -o "[0-9][0-9.]*[0-9]" | head -1').trim() || 'system'})`, cmd: (c) => `proot -v -1 -0 -r ${q(root)} -w / ${binds} /usr/bin/env -i ${envWords} sh -c ${q(c)}` }] : []),
    { name: `cake's proot ${proot.seccomp ? '' : '(PROOT_NO_SECCOMP=1) '}by hand`, cmd: (c) => `${proot.seccomp ? '' : 'PROOT_NO_SECCOMP=1 '}${q(proot.binary)} -v -1 -0 -r ${q(root)} -w / --kill-on-exit ${binds} /usr/bin/env -i ${envWords} sh -c ${q(c)}` },
    ...['proot', 'userns'].map((e) => ({
      name: `cake exec --engine ${e}`,
      cmd: (c) => 'CAKE_NO_FAKEROOT=1 ' + cake(`exec ess --engine ${e} --isolated ${Object.entries(GUEST_ENV).map(([k, v]) => `--env ${q(`${k}=${v}`)}`).join(' ')} -- sh -c ${q(c)}`),
    })),
  ];

  if (process.env.BENCH_ENGINE === 'recording') return recording(cake, restore, debNames.length);

  // 1. fork/exec loop.
  const loop = engines.map(() => ({ inside: [], wall: [], cpu: [] }));
  for (let r = 0; r < loopRuns; r++) {
    engines.forEach((e, i) => {
      const m = measure(e.cmd(LOOP));
      loop[i].inside.push(Number(m.stdout.trim()) / 1e6);
      loop[i].wall.push(m.wall);
      loop[i].cpu.push(m.cpu);
    });
  }
  report('300 fork/execs of /bin/true in a shell loop (wall time inside the guest)', engines.map((e, i) => ({ name: e.name, seconds: median(loop[i].inside) })), engines[0].name);
  report('the same, the whole command (with the start-up of cake or proot; cpu = whole process tree)', engines.map((e, i) => ({ name: e.name, seconds: median(loop[i].wall), cpu: median(loop[i].cpu) })), engines[0].name);

  // 2. dpkg --install --force-depends of the essential set, from the same tree each time.
  const check = () => {
    const audit = shOut(`chroot ${q(root)} dpkg --audit`).trim();
    const states = shOut(`chroot ${q(root)} dpkg-query -W -f '\${db:Status-Abbrev}\\n'`).trim().split('\n');
    const bad = states.filter((x) => x.trim() !== 'ii').length;
    return audit === '' && bad === 0 ? `ok, ${states.length} installed` : `FAILED: ${bad} not installed; ${audit.slice(0, 60)}`;
  };
  const dpkgEngines = [{ ...engines[0], name: 'native, plain root dpkg (reference)', plain: true }, ...engines];
  const dpkg = dpkgEngines.map(() => ({ wall: [], cpu: [], verdict: 'not run' }));
  for (let r = 0; r < dpkgRuns; r++) {
    dpkgEngines.forEach((e, i) => {
      restore();
      try {
        const m = measure(e.cmd(e.plain ? DPKG_AS_ROOT : DPKG));
        dpkg[i].wall.push(m.wall);
        dpkg[i].cpu.push(m.cpu);
        dpkg[i].verdict = check();
      } catch (err) {
        dpkg[i].verdict = `FAILED: ${String(err.message).split('\n')[0].slice(0, 100)}`;
      }
    });
  }
  const dpkgRows = dpkgEngines.map((e, i) => ({
    name: `${e.name} [${dpkg[i].verdict}]`,
    seconds: dpkg[i].wall.length ? median(dpkg[i].wall) : NaN,
    cpu: dpkg[i].cpu.length ? median(dpkg[i].cpu) : NaN,
  }));
  report(`dpkg --install --force-depends of ${debNames.length} essential debs under fakeroot (bookworm)`, dpkgRows, dpkgRows[1].name);
  restore();
  recording(cake, restore, debNames.length);
}

/** 3. What recording ownership costs, per exec and for the essential set's dpkg --install. */
function recording(cake, restore, debCount) {
  const envs = Object.entries(GUEST_ENV).map(([k, v]) => `--env ${q(`${k}=${v}`)}`).join(' ');
  const exec = (engine, off, c) => `${off ? 'CAKE_NO_FAKEROOT=1 ' : ''}${cake(`exec ess --engine ${engine} --isolated ${envs} -- sh -c ${q(c)}`)}`;
  const rows = [];
  for (const engine of ['userns', 'proot']) {
    const on = [];
    const off = [];
    // once unmeasured: the kit is fetched and unpacked on first use
    measure(exec(engine, false, 'true'));
    for (let r = 0; r < loopRuns * 3; r++) {
      off.push(measure(exec(engine, true, 'true')).wall);
      on.push(measure(exec(engine, false, 'true')).wall);
    }
    rows.push({ name: `cake exec --engine ${engine} -- true, CAKE_NO_FAKEROOT=1`, seconds: median(off) });
    rows.push({ name: `cake exec --engine ${engine} -- true, recording`, seconds: median(on) });
  }
  report(`ownership recording per exec (median of ${loopRuns * 3}; the difference is the cost)`, rows, rows[0].name);
  for (let i = 0; i < rows.length; i += 2) console.log(`  recording costs ${((rows[i + 1].seconds - rows[i].seconds) * 1000).toFixed(1)} ms per exec (${rows[i].name.split(',')[0]})`);

  const plain = 'dpkg --install --force-depends /debs/*.deb >/tmp/dpkg.log 2>&1 || { tail -20 /tmp/dpkg.log >&2; exit 1; }';
  const dpkgRows = [];
  for (const engine of ['userns', 'proot']) {
    for (const [label, off, c] of [[`guest fakeroot, not recorded (CAKE_NO_FAKEROOT=1)`, true, DPKG], ['recorded by cake', false, plain]]) {
      const wall = [];
      const cpu = [];
      let verdict = 'ok';
      for (let r = 0; r < dpkgRuns; r++) {
        restore();
        try {
          const m = measure(exec(engine, off, c));
          wall.push(m.wall);
          cpu.push(m.cpu);
        } catch (err) {
          verdict = `FAILED: ${String(err.message).split('\n')[0].slice(0, 80)}`;
        }
      }
      dpkgRows.push({ name: `--engine ${engine}: ${label} [${verdict}]`, seconds: wall.length ? median(wall) : NaN, cpu: cpu.length ? median(cpu) : NaN });
    }
  }
  report(`dpkg --install --force-depends of ${debCount} essential debs: recorded by cake vs the guest's fakeroot`, dpkgRows, dpkgRows[0].name);
  restore();
}

await main();
