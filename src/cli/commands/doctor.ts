import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { HOST_TOOLS, aptInstallCommand } from '../../model/host-tools.js';
import { machine } from 'node:os';
import { chooseEngine, type EngineDeps } from '../../run/engine.js';
import { PROOT_PINS, provisionArch } from '../../kit/proot-pins.js';
import { foundKits } from '../../kit/provider.js';
import { inspectProots } from '../../run/proot-select.js';
import type { CliContext } from '../context.js';
import type { CommandOptions } from '../command-types.js';

function which(bin: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin').split(delimiter)) {
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function prootFork(bin: string): Promise<string> {
  const help = await execa(bin, ['--help'], { reject: false, timeout: 5000 });
  const text = `${help.stdout}\n${help.stderr}`;
  const version = (await execa(bin, ['--version'], { reject: false, timeout: 5000 })).stdout;
  const v = /v?(\d+\.\d+\.\d+)/.exec(version)?.[1] ?? 'unknown version';
  return `${/--sysvipc/.test(text) ? 'termux fork' : 'proot-me'} ${v}`;
}

function kvmStatus(): { ok: boolean; detail: string } {
  if (!existsSync('/dev/kvm')) return { ok: false, detail: '/dev/kvm absent: cake boot uses TCG (slower)' };
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, detail: '/dev/kvm not accessible: add yourself to group kvm; cake boot uses TCG meanwhile' };
  }
  return { ok: true, detail: '/dev/kvm accessible (cake boot probes that it really boots before using it)' };
}

function usernsSysctl(): string {
  for (const f of ['/proc/sys/kernel/unprivileged_userns_clone', '/proc/sys/user/max_user_namespaces']) {
    try {
      return `${f.split('/').pop()}=${readFileSync(f, 'utf8').trim()}`;
    } catch {
      // not on this kernel
    }
  }
  return 'unknown';
}

interface Row {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

/**
 * Which proot the proot engine uses and why: each candidate's self-check verdict (CAKE_PROOT, a
 * proot cake provisioned, the system's), then the choice. Never downloads: when nothing passes,
 * it says what `--engine proot` will provision.
 */
async function prootRows(deps: EngineDeps): Promise<Row[]> {
  const rows: Row[] = [];
  const verdicts = await inspectProots(deps);
  for (const v of verdicts) {
    rows.push({ name: `proot (${v.origin === 'user' ? 'CAKE_PROOT' : v.origin})`, ok: v.ok, detail: `${v.binary}${v.version ? ` ${v.version}` : ''}: ${v.detail}` });
  }
  if (verdicts.some((v) => v.ok)) {
    try {
      const choice = await chooseEngine('proot', deps);
      rows.push({ name: 'proot engine', ok: true, detail: `${choice.binary}: ${choice.reason}` });
    } catch (err) {
      rows.push({ name: 'proot engine', ok: false, detail: (err as Error).message });
    }
    return rows;
  }
  const arch = provisionArch(machine());
  if (arch === undefined) {
    rows.push({ name: 'proot engine', ok: false, detail: `no proot passes the self-check, and cake cannot provision one for ${machine()}`, hint: 'install proot 5.4 or newer and point CAKE_PROOT at it' });
  } else {
    const pin = PROOT_PINS[arch].debs[0]!;
    const why = verdicts.length === 0 ? 'no proot is installed' : 'no proot here passes the self-check';
    rows.push({
      name: 'proot engine',
      ok: false,
      detail: `${why}: --engine proot (or auto without user namespaces) provisions proot ${pin.version} from the Debian archive (${PROOT_PINS[arch].suite}, pinned by sha256) on first use`,
      hint: 'to provision it now: cake exec ENV --engine proot -- true',
    });
  }
  return rows;
}

/**
 * `cake doctor`: which host tools are present (and which proot fork), whether KVM and user
 * namespaces work, which engine `auto` picks and why, with an install hint per missing tool.
 * Exit 1 when no engine can run environments, 0 otherwise.
 */
export async function doctorCommand(ctx: CliContext, _args: string[], opts: CommandOptions<'doctor'>): Promise<number> {
  const asRoot = process.getuid?.() === 0;
  const rows: Row[] = [];
  for (const tool of HOST_TOOLS) {
    const path = which(tool.bin, ctx.env.PATH);
    let detail = path ?? `missing: needed for ${tool.purpose}`;
    if (path && tool.bin === 'proot') detail = `${path} (${await prootFork(path)})`;
    rows.push({ name: tool.bin, ok: Boolean(path), detail, ...(path ? {} : { hint: aptInstallCommand([tool.pkg], asRoot) }) });
  }
  const kvm = kvmStatus();
  rows.push({ name: 'kvm', ok: kvm.ok, detail: kvm.detail });
  let engineOk = true;
  try {
    const choice = await chooseEngine('auto', { logger: ctx.logger, hostEnv: ctx.env, cacheDir: join(ctx.paths.cache, 'engine'), kits: foundKits });
    rows.push({ name: 'user namespaces', ok: choice.engine === 'userns', detail: `${usernsSysctl()}` });
    for (const c of choice.checks) rows.push({ name: `self-check ${c.name}`, ok: c.ok, detail: c.detail });
    rows.push({ name: 'engine', ok: true, detail: `auto → ${choice.engine} (${choice.binary}): ${choice.reason}` });
  } catch (err) {
    engineOk = false;
    const e = err as { message?: string; hint?: string };
    rows.push({ name: 'engine', ok: false, detail: e.message ?? String(err), ...(e.hint ? { hint: e.hint } : {}) });
  }
  rows.push(...(await prootRows({ logger: ctx.logger, hostEnv: ctx.env, cacheDir: join(ctx.paths.cache, 'engine'), kits: foundKits })));
  rows.push({ name: 'store', ok: true, detail: ctx.paths.data });
  if (opts.json) {
    ctx.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  } else {
    const c = ctx.stdoutChalk;
    const width = Math.max(...rows.map((r) => r.name.length));
    for (const r of rows) {
      ctx.stdout.write(`${r.ok ? c.green('ok  ') : c.yellow('--  ')}${r.name.padEnd(width)}  ${r.detail}\n`);
      if (r.hint) ctx.stdout.write(`${' '.repeat(width + 6)}${c.cyan('hint:')} ${r.hint}\n`);
    }
    const missing = HOST_TOOLS.filter((t) => !which(t.bin, ctx.env.PATH)).map((t) => t.pkg);
    if (missing.length) ctx.stdout.write(`\nto install everything missing: ${aptInstallCommand(missing, asRoot)}\n`);
  }
  return engineOk ? 0 : 1;
}
