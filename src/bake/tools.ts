/**
 * Running the host programs a bake uses (mkfs.ext4, debugfs, mkfs.vfat, mtools, syslinux,
 * qemu-img): found on PATH (or the sbin directories), started with a minimal, fixed environment
 * so host settings (locale, MKE2FS_*, MTOOLSRC) cannot leak into the image, and failures turned
 * into one-line CakeErrors that name the step and quote the tool's own message.
 */
import { spawn } from 'node:child_process';
import { CakeError } from '../model/errors.js';
import { HOST_TOOLS } from '../model/host-tools.js';
import { findHostProgram } from '../run/host-tools.js';

export interface ToolRunner {
  /** Absolute path of `name`, or CakeError('missing-tool') naming its package. */
  find(name: string): Promise<string>;
  /**
   * Runs `name args` and resolves with its stdout. `env` is added to a fixed base (PATH, LC_ALL=C,
   * TZ=UTC). Rejects with CakeError('bake') saying `what` failed, with the last lines of stderr.
   */
  run(name: string, args: readonly string[], opts: { what: string; env?: Record<string, string>; input?: Buffer | string; cwd?: string }): Promise<{ stdout: string; stderr: string }>;
}

const PACKAGES: Record<string, string> = {
  ...Object.fromEntries(HOST_TOOLS.map((t) => [t.bin, t.pkg])),
  'e2fsck': 'e2fsprogs',
  'mmd': 'mtools',
  'mdir': 'mtools',
  'mkfs.ext4': 'e2fsprogs',
  'qemu-system-x86_64': 'qemu-system-x86',
  depmod: 'kmod',
};

export function createToolRunner(hostEnv: Record<string, string | undefined>, signal?: AbortSignal): ToolRunner {
  const found = new Map<string, string>();
  const find = async (name: string): Promise<string> => {
    const hit = found.get(name);
    if (hit !== undefined) return hit;
    const path = await findHostProgram(name, hostEnv);
    if (path === undefined) {
      const pkg = PACKAGES[name] ?? name;
      throw new CakeError('missing-tool', `${name} is not installed (cake bake needs it)`, { hint: `install the ${pkg} package (apt-get install ${pkg})` });
    }
    found.set(name, path);
    return path;
  };
  return {
    find,
    async run(name, args, opts) {
      const bin = await find(name);
      const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', TZ: 'UTC', ...opts.env };
      return new Promise((resolve, reject) => {
        const child = spawn(bin, args, { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], signal });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => err.push(c));
        child.stdin.on('error', () => {
          // the tool may exit before reading its input; its exit status tells what happened
        });
        child.stdin.end(opts.input ?? '');
        child.on('error', (e) => {
          if (signal?.aborted) reject(new CakeError('interrupted', 'interrupted', { cause: e }));
          else reject(new CakeError('bake', `${opts.what}: cannot run ${name}: ${e.message}`, { cause: e }));
        });
        child.on('close', (code, sig) => {
          const stdout = Buffer.concat(out).toString('utf8');
          const stderr = Buffer.concat(err).toString('utf8');
          if (code === 0) return resolve({ stdout, stderr });
          if (signal?.aborted) return reject(new CakeError('interrupted', 'interrupted'));
          const detail = lastLines(stderr || stdout, 3) || (sig ? `killed by ${sig}` : `exit status ${code}`);
          reject(new CakeError('bake', `${opts.what}: ${name} failed: ${detail}`));
        });
      });
    },
  };
}

/** The last `n` non-empty lines of a tool's output, joined with '; '. */
export function lastLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join('; ');
}
