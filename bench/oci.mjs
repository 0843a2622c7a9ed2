// OCI benchmarks: a cold `cake pull docker://…` from a loopback registry (Debian's docker-registry)
// vs `curl BLOB | gzip -d | tar -x` of the same blobs and vs `skopeo copy` + `umoci unpack
// --rootless`, for a single-layer ~50 MB gzip image and for the same tree in 3 layers.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CACHE, CAKE, have, report, rmrf, sh, tmp, exists } from './lib.mjs';

for (const tool of ['docker-registry', 'skopeo', 'umoci', 'curl']) {
  if (!have(tool)) {
    console.log(`\n## oci: skipped (${tool} is not installed)`);
    process.exit(0);
  }
}

const tarball = join(CACHE, 'rootfs-minbase.tar.gz');
if (!exists(tarball)) {
  // The same real Debian minbase tree as bench/spine.mjs.
  const dir = tmp('bench-rootfs-');
  if (have('mmdebstrap')) sh(`mmdebstrap --quiet --variant=minbase --mode=root bookworm ${dir}/root http://deb.debian.org/debian`);
  else sh(`debootstrap --variant=minbase bookworm ${dir}/root http://deb.debian.org/debian >/dev/null`);
  sh(`tar -C ${dir}/root -czf ${tarball} .`);
  rmrf(dir);
}

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const work = tmp('bench-oci-');

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const host = `127.0.0.1:${port}`;
writeFileSync(
  join(work, 'registry.yml'),
  `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${work}/registry\nhttp:\n  addr: ${host}\n`,
);
const registry = spawn('docker-registry', ['serve', join(work, 'registry.yml')], { stdio: 'ignore' });
for (let i = 0; ; i++) {
  try {
    await fetch(`http://${host}/v2/`);
    break;
  } catch {
    if (i > 200) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function upload(repo, layers) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  for (const blob of [...layers.map((l) => l.bytes), config]) {
    const post = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(post.headers.get('location'), `http://${host}`);
    loc.searchParams.set('digest', sha(blob));
    const put = await fetch(loc, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob });
    if (put.status !== 201) throw new Error(`upload: ${put.status}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l.bytes), size: l.bytes.length })),
  });
  const put = await fetch(`http://${host}/v2/${repo}/manifests/1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
  if (put.status !== 201) throw new Error(`manifest: ${put.status}`);
  return layers.map((l) => `http://${host}/v2/${repo}/blobs/${sha(l.bytes)}`);
}

const layerOf = (bytes) => ({ bytes, diffId: sha(gunzipSync(bytes, { maxOutputLength: 2 ** 31 })) });

// Single layer: the tarball itself.
const single = layerOf(readFileSync(tarball));
const singleUrls = await upload('bench/one', [single]);

// Three layers of the same tree: usr/share, usr/lib, everything else.
const tree = join(work, 'tree');
mkdirSync(tree);
sh(`tar -xzf ${tarball} -C ${tree}`);
const part = (name, args) => {
  sh(`tar -C ${tree} -cf - ${args} | gzip -6 > ${work}/${name}.tar.gz`);
  return layerOf(readFileSync(`${work}/${name}.tar.gz`));
};
const three = [part('l1', '--exclude=./usr/share --exclude=./usr/lib .'), part('l2', './usr/share'), part('l3', './usr/lib')];
rmrf(tree);
const threeUrls = await upload('bench/three', three);

const mib = (n) => (n / 1048576).toFixed(1);
console.log(`# oci: single layer ${mib(single.bytes.length)} MiB gzip; three layers ${three.map((l) => mib(l.bytes.length)).join(' + ')} MiB`);

const runs = Number(process.env.BENCH_RUNS ?? 3);
const target = join(work, 'x');
const fresh = () => {
  rmrf(target);
  mkdirSync(target);
};

/** Runs `cmd` under /usr/bin/time: wall seconds, and CPU seconds of the whole process tree. */
function measure(cmd) {
  const file = join(work, 'time.txt');
  execFileSync('/usr/bin/time', ['-o', file, '-f', 'TIME %e %U %S', 'sh', '-c', `${cmd} >/dev/null 2>&1`], { stdio: 'ignore' });
  const m = /TIME (\S+) (\S+) (\S+)/.exec(readFileSync(file, 'utf8'));
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Rows are measured in rounds (A B C, A B C, …) rather than one row at a time, so that load from
 * other processes on the machine falls on every row alike; medians are reported, for wall time
 * and for CPU time (user + sys of the process tree, registry excluded).
 */
function bench(title, repo, urls) {
  const rows = [{ name: `curl | gzip -d | tar -x (${urls.length} blob${urls.length > 1 ? 's' : ''})`, cmd: urls.map((u) => `curl -sf ${u} | gzip -d | tar -x -C ${target}`).join(' && ') }];
  rows.push({ name: 'skopeo copy + umoci unpack --rootless', cmd: `skopeo copy --quiet --src-tls-verify=false docker://${host}/${repo}:1 oci:${target}/layout:t && umoci unpack --rootless --image ${target}/layout:t ${target}/bundle` });
  rows.push({ name: 'cake pull (cold: empty store)', cmd: `CAKE_HOME=${target}/home ${CAKE} pull docker://${host}/${repo}:1 --name b` });
  // What a tee (download while unpacking) could save at most: the download itself.
  rows.push({ name: 'curl -o /dev/null (download only)', cmd: urls.map((u) => `curl -sf -o /dev/null ${u}`).join(' && ') });
  // The same unpack without the registry: what the protocol, download and verification cost on top.
  if (urls.length === 1) rows.push({ name: 'cake import of the blob (no registry)', cmd: `CAKE_HOME=${target}/home ${CAKE} import ${tarball} --name b` });
  const samples = rows.map(() => []);
  for (let r = 0; r < runs; r++) {
    rows.forEach((row, i) => {
      fresh();
      samples[i].push(measure(row.cmd));
    });
  }
  report(`${title}: wall time`, rows.map((row, i) => ({ name: row.name, seconds: median(samples[i].map((s) => s.wall)) })), rows[0].name);
  report(`${title}: CPU time`, rows.map((row, i) => ({ name: row.name, seconds: median(samples[i].map((s) => s.cpu)) })), rows[0].name);
}

try {
  bench(`cold pull of a single-layer ${mib(single.bytes.length)} MiB gzip image from a loopback registry`, 'bench/one', singleUrls);
  bench('cold pull of the same tree as a 3-layer image', 'bench/three', threeUrls);
} finally {
  registry.kill('SIGTERM');
  rmrf(work);
}
