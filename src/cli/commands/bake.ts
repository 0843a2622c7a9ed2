import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bake } from '../../bake/pipeline.js';
import { checkHostname, hostnameFromEnv, parseCmdline, parseKernelSpec, parseModules, parseSize, type BakeOptions } from '../../model/bake-options.js';
import { findHostProgram } from '../../run/host-tools.js';
import { CakeError, UsageError } from '../../model/errors.js';
import { parseSourceDateEpoch } from '../../model/source-date-epoch.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../logger.js';
import type { CommandOptions } from '../command-types.js';

/** `cake bake NAME -o IMAGE [--format] [--boot] [--size] [--kernel] [--modules] [--cmdline] [--ssh-key] [--hostname] [--password]`. */
export async function bakeCommand(ctx: CliContext, args: string[], opts: CommandOptions<'bake'>): Promise<number> {
  const [name] = args;
  if (!name) throw new UsageError('bake needs an environment NAME', 'cake bake NAME -o IMAGE; see `cake help bake`');
  if (opts.output === undefined || opts.output === '') throw new UsageError('bake needs -o IMAGE', `cake bake ${name} -o ${name}.img`);
  const boot = opts.boot ?? 'both';
  let bios = boot !== 'efi';
  const efi = boot !== 'bios';
  if (bios && (await findHostProgram('syslinux', ctx.env)) === undefined) {
    if (boot === 'bios') throw new CakeError('missing-tool', 'syslinux is not installed (cake bake --boot bios needs it)', { hint: 'install the syslinux package (apt-get install syslinux)' });
    ctx.logger.warn('syslinux is not installed: the image boots with EFI only (apt-get install syslinux for BIOS boot too)');
    bios = false;
  }
  const modules = parseModules(opts.modules !== undefined ? [opts.modules] : []);
  const sde = parseSourceDateEpoch(ctx.env.SOURCE_DATE_EPOCH);
  const options: BakeOptions = {
    env: name,
    output: opts.output,
    format: opts.format === 'qcow2' ? 'qcow2' : 'raw',
    bios,
    efi,
    size: parseSize(opts.size ?? 'auto'),
    kernel: parseKernelSpec(opts.kernel),
    moduleDirs: modules.dirs,
    extraModules: modules.names,
    cmdline: parseCmdline(opts.cmdline !== undefined ? [opts.cmdline] : []),
    hostname: opts.hostname !== undefined ? checkHostname(opts.hostname) : hostnameFromEnv(name),
    ...(sde !== undefined ? { sourceDateEpoch: sde } : {}),
    ...(ctx.env.CAKE_BAKE_SEED ? { seed: ctx.env.CAKE_BAKE_SEED } : {}),
  };
  if (options.kernel.kind !== 'path' && options.moduleDirs.length > 0) {
    throw new UsageError('--modules DIR goes with --kernel PATH', 'with --kernel debian or env, give module names: --modules virtio_gpu,9p');
  }
  const keyFile = opts.sshKey;
  if (keyFile !== undefined) options.sshKeys = readSshKeys(keyFile);
  const password = opts.password;
  if (password !== undefined) {
    if (password === '') throw new UsageError('--password is empty', 'give a password, or leave --password out (the root account then stays locked)');
    ctx.logger.warn('--password bakes a root password into the image (its hash is in /etc/shadow): prefer --ssh-key');
    options.password = password;
  }
  if (options.format === 'qcow2' && (await findHostProgram('qemu-img', ctx.env)) === undefined) {
    throw new CakeError('missing-tool', 'qemu-img is not installed (cake bake --format qcow2 needs it)', { hint: 'install the qemu-utils package (apt-get install qemu-utils)' });
  }
  const r = await bake(
    {
      paths: ctx.paths,
      blobs: ctx.blobs,
      envs: ctx.envs,
      logger: ctx.logger,
      signal: ctx.signal,
      http: () => ctx.http(),
      hostEnv: ctx.env,
      distrosDir: join(ctx.packageRoot, 'distros'),
    },
    options,
  );
  const boots = [options.bios ? 'BIOS' : '', options.efi ? 'EFI' : ''].filter((b) => b).join('+');
  const took = Object.values(r.timings).reduce((a, b) => a + b, 0);
  ctx.logger.info(`baked ${r.output} (${r.format}, ${formatBytes(r.bytes)}, ${boots}, ${r.system}) in ${took.toFixed(1)} s`);
  if (ctx.verbose) ctx.logger.debug(`stages: ${Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(2)}s`).join(', ')}`);
  ctx.stdout.write(`${r.output}\n`);
  return 0;
}

/** authorized_keys content from a public key file; a private key is refused. */
function readSshKeys(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--ssh-key ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (text.includes('PRIVATE KEY')) throw new UsageError(`--ssh-key ${file} is a private key`, `give the public key: ${file}.pub`);
  const keys = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (keys.length === 0 || !keys.every((k) => /^(ssh-|ecdsa-|sk-|[a-z0-9-]+(,[a-z0-9-]+)*\s+(ssh-|ecdsa-|sk-))/.test(k) || /^(command|from|no-|restrict|environment|permit)/.test(k))) {
    throw new UsageError(`--ssh-key ${file} does not look like an SSH public key`, 'give a file like ~/.ssh/id_ed25519.pub');
  }
  return `${keys.join('\n')}\n`;
}
