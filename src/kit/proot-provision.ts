/**
 * Provisions a working proot from the Debian archive, without root and whatever the host's libc:
 * sid's proot (5.4.x, which translates statx) with its libtalloc2, started by the dynamic loader
 * of sid's own libc6 (proot-provisioned.ts describes the result). The .debs are pinned by sha256
 * (proot-pins.ts) and kept in the blob store; the unpacked tree is a cache that can be rebuilt.
 *
 * Loaded lazily (it pulls in the archive client): only when a proot is needed and none works.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { machine as hostMachine } from 'node:os';
import { join } from 'node:path';
import { ArchiveClient, toPackageIndex, type DebRequest } from '../debian/archive-client.js';
import type { PackageRecord } from '../debian/package-index.js';
import { compareVersions } from '../debian/version.js';
import { CakeError, isErrno } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { HttpClient } from '../net/http-client.js';
import type { BlobStore } from '../store/blobs.js';
import type { CakePaths } from '../store/paths.js';
import { findEmbeddedLoaders } from '../run/proot-loader.js';
import { dropEscapingLinks, firstRegularFile, unpackDebs } from './deb-unpack.js';
import type { PinnedDeb } from './kit-deb.js';
import { MIN_PROOT_VERSION, PROOT_ARCH_LAYOUT, PROOT_PINS, provisionArch, type ProotPins } from './proot-pins.js';
import {
  launcherScript,
  PROVISION_FORMAT,
  provisionKey,
  provisionRoot,
  readProvisioned,
  type ProvisionedProot,
  type ProvisionManifest,
} from './proot-provisioned.js';

/** What provisioning needs beyond the engine's own deps: the network and the blob store. */
export interface ProvisionDeps {
  /** Called only when something must be downloaded. */
  http(): Promise<HttpClient>;
  blobs: BlobStore;
  paths: CakePaths;
  /** Where the archive keyrings live (default: the shipped ones). */
  keyringDir?: string;
}

export interface ProvisionContext extends ProvisionDeps {
  logger: Logger;
  /** The engine cache dir: the tree goes to `<cacheDir>/proot/<key>/`. */
  cacheDir: string;
  signal?: AbortSignal;
  /** uname -m of the host; default os.machine(). */
  machine?: string;
  /** Other pins (tests); default proot-pins.ts for the host's architecture. */
  pins?: ProotPins;
}

/**
 * Returns the provisioned proot for this host, building it when absent: fetch the pinned .debs
 * into the blob store (verified by sha256 and size), unpack them with the safe extractor into a
 * staging directory, carve out proot's loaders, write the launcher, check that it starts, then
 * rename the directory into place (atomic; a concurrent provisioner's identical result wins).
 * Prints one info line when it downloads or unpacks. When a pinned pool file is gone (404: sid
 * moved on), resolves the newest proot >= 5.4 and its libraries from sid's signed index instead
 * (accepting a Release past its Valid-Until, signatures still required) and warns.
 *
 * Idempotent. Throws CakeError('engine') on a host architecture without pins (only x86_64 and
 * aarch64 have them), when the result does not start, or when sid has no usable proot; network,
 * digest and signature failures pass through with their own codes.
 */
export async function provisionProot(ctx: ProvisionContext): Promise<ProvisionedProot> {
  const machine = ctx.machine ?? hostMachine();
  const arch = provisionArch(machine);
  if (arch === undefined) {
    throw new CakeError('engine', `cake cannot provision proot for a ${machine} host (only x86_64 and aarch64)`, {
      hint: 'install proot 5.4 or newer and point CAKE_PROOT at it, or use --engine userns',
    });
  }
  const pins = ctx.pins ?? PROOT_PINS[arch];
  const done = await readProvisioned(join(provisionRoot(ctx.cacheDir), provisionKey(pins.debs)));
  if (done !== undefined) return done;
  const proot = pins.debs[0] as PinnedDeb;
  ctx.logger.info(`provisioning proot ${upstream(proot.version)} from the Debian archive (once)`);
  let debs = pins.debs;
  let source: ProvisionManifest['source'] = 'pinned';
  const http = await ctx.http();
  let client = archiveClient(ctx, http, pins);
  let blobs: Map<string, string>;
  try {
    blobs = await client.fetchDebs(debs.map(toRequest));
  } catch (err) {
    if (!(err instanceof CakeError && err.code === 'http' && / 404\b/.test(err.message))) throw err;
    ctx.logger.warn(`the pinned proot ${proot.version} is gone from ${pins.mirror} (${err.message}); using the newest proot >= ${MIN_PROOT_VERSION} of ${pins.suite} instead`);
    client = archiveClient(ctx, http, pins);
    debs = await resolveFromIndex(ctx, client, pins);
    source = 'resolved';
    const other = await readProvisioned(join(provisionRoot(ctx.cacheDir), provisionKey(debs)));
    if (other !== undefined) return other;
    blobs = await client.fetchDebs(debs.map(toRequest));
  }
  return build(ctx, pins.arch, debs, source, (d) => blobs.get(d.sha256) as string);
}

function upstream(version: string): string {
  return version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

function toRequest(d: PinnedDeb): DebRequest {
  return { name: d.name, filename: d.filename, sha256: d.sha256, size: d.size };
}

function archiveClient(ctx: ProvisionContext, http: HttpClient, pins: ProotPins): ArchiveClient {
  return new ArchiveClient(
    { http, blobs: ctx.blobs, paths: ctx.paths, logger: ctx.logger, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.keyringDir ? { keyringDir: ctx.keyringDir } : {}) },
    // sid's Release on a mirror may be past its Valid-Until; the signature is what matters here.
    { mirror: pins.mirror, suites: [pins.suite], components: ['main'], arch: pins.arch, keyring: 'debian', checkValidUntil: false },
  );
}

/**
 * The newest proot >= MIN_PROOT_VERSION of the signed index, the first package satisfying each of
 * its Depends (libtalloc2, libc6), and libc6 (the loader) in any case.
 */
export async function resolveFromIndex(ctx: { logger: Logger }, client: ArchiveClient, pins: ProotPins): Promise<PinnedDeb[]> {
  ctx.logger.warn(`reading ${pins.suite}'s index, accepting a Release past its Valid-Until (its signature is still verified)`);
  const index = toPackageIndex(await client.loadIndices());
  const proot = index.candidate('proot', pins.arch);
  if (proot === undefined || compareVersions(proot.version, MIN_PROOT_VERSION) < 0) {
    throw new CakeError('engine', `${pins.suite} has no proot ${MIN_PROOT_VERSION} or newer for ${pins.arch} (found ${proot?.version ?? 'none'})`, {
      hint: 'install proot 5.4 or newer and point CAKE_PROOT at it, or use --engine userns',
    });
  }
  const picked: PackageRecord[] = [proot];
  for (const alternatives of proot.depends) {
    const found = alternatives.map((rel) => index.satisfying(rel, { native: pins.arch, fromArch: pins.arch })[0]).find((p) => p !== undefined);
    if (found === undefined) {
      throw new CakeError('engine', `${pins.suite}'s proot ${proot.version} depends on ${alternatives.map((r) => r.name).join(' | ')}, which the index lacks`);
    }
    if (!picked.includes(found)) picked.push(found);
  }
  const libc = index.candidate('libc6', pins.arch);
  if (libc === undefined) throw new CakeError('engine', `${pins.suite} has no libc6 for ${pins.arch}`);
  const ordered = [...picked.filter((p) => p.name !== 'libc6'), libc];
  ctx.logger.info(`using ${ordered.map((p) => `${p.name} ${p.version}`).join(', ')} from ${pins.suite}`);
  return ordered.map((p) => ({ name: p.name, version: p.version, filename: p.filename, sha256: p.sha256, size: p.size }));
}

async function build(
  ctx: ProvisionContext,
  arch: 'amd64' | 'arm64',
  debs: PinnedDeb[],
  source: ProvisionManifest['source'],
  blobOf: (d: PinnedDeb) => string,
): Promise<ProvisionedProot> {
  const parent = provisionRoot(ctx.cacheDir);
  const key = provisionKey(debs);
  const final = join(parent, key);
  const staging = join(parent, `.staging-${key}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await mkdir(join(staging, 'root'), { recursive: true });
  try {
    await unpackDebs(debs.map(blobOf), join(staging, 'root'), ctx.signal);
    const layout = PROOT_ARCH_LAYOUT[arch];
    const libDirs = [`usr/lib/${layout.triplet}`, `lib/${layout.triplet}`];
    const ldso = await firstRegularFile(join(staging, 'root'), [...libDirs, 'usr/lib64', 'lib64', 'usr/lib', 'lib'].map((d) => `${d}/${layout.loader}`));
    const binary = await firstRegularFile(join(staging, 'root'), ['usr/bin/proot', 'bin/proot']);
    if (ldso === undefined || binary === undefined) {
      throw new CakeError('engine', `the unpacked packages lack ${ldso === undefined ? layout.loader : 'usr/bin/proot'} (${debs.map((d) => d.filename).join(', ')})`);
    }
    const libs: string[] = [];
    for (const d of libDirs) if (await dropEscapingLinks(join(staging, 'root', d))) libs.push(d);
    const loaders = findEmbeddedLoaders(await readFile(join(staging, 'root', binary)), layout.elfMachine, layout.elfMachine32);
    const env: Record<string, string> = {};
    if (loaders.loader) {
      await writeFile(join(staging, 'loader'), loaders.loader, { mode: 0o755 });
      env.PROOT_LOADER = join(final, 'loader');
    }
    if (loaders.loader32) {
      await writeFile(join(staging, 'loader-32'), loaders.loader32, { mode: 0o755 });
      env.PROOT_LOADER_32 = join(final, 'loader-32');
    }
    const at = (base: string, rel: string): string => join(base, 'root', rel);
    await smokeTest(at(staging, ldso), libs.map((d) => at(staging, d)).join(':'), at(staging, binary), debs[0] as PinnedDeb);
    const manifest: ProvisionManifest = {
      format: PROVISION_FORMAT,
      arch,
      source,
      debs,
      launcher: join(final, 'proot'),
      binary: at(final, binary),
      ldso: at(final, ldso),
      libraryPath: libs.map((d) => at(final, d)).join(':'),
      loaderEnv: env,
      createdAt: new Date().toISOString(),
    };
    await writeFile(join(staging, 'proot'), launcherScript(manifest), { mode: 0o755 });
    await chmod(join(staging, 'proot'), 0o755);
    await writeFile(join(staging, 'provision.json'), JSON.stringify(manifest, null, 1) + '\n');
    try {
      await rename(staging, final);
    } catch (err) {
      if (!isErrno(err, 'EEXIST') && !isErrno(err, 'ENOTEMPTY')) throw err;
      // Another cake process finished first (its result is the same by construction), or an
      // incomplete directory is in the way: move that aside and take its place.
      if ((await readProvisioned(final)) === undefined) {
        const aside = `${staging}.old`;
        await rename(final, aside).catch(() => undefined);
        await rm(aside, { recursive: true, force: true });
        await rename(staging, final);
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const result = await readProvisioned(final);
  if (result === undefined) throw new CakeError('engine', `provisioning proot left no usable result in ${final}`);
  return result;
}

/** Runs the staged proot's `--help` through the staged loader: it must start and know --kill-on-exit. */
async function smokeTest(ldso: string, libraryPath: string, binary: string, deb: PinnedDeb): Promise<void> {
  const out = await new Promise<string>((resolve) => {
    execFile(ldso, ['--inhibit-cache', '--library-path', libraryPath, binary, '--help'], { env: { PATH: '/usr/bin:/bin' }, timeout: 20_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      resolve(`${stdout}${stderr}${err && !stdout ? `\n${err.message}` : ''}`);
    });
  });
  if (!out.includes('--kill-on-exit')) {
    const why = out.trim().split('\n').slice(-1)[0] ?? 'no output';
    throw new CakeError('engine', `the provisioned proot ${deb.version} does not start on this host: ${why}`, {
      hint: 'set CAKE_DEBUG=1 for details; or install proot 5.4 or newer and point CAKE_PROOT at it',
    });
  }
}
