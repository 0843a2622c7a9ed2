/**
 * The `image:` section of a recipe: how `cake cook RECIPE --bake OUT` bakes the cooked env, with
 * the meanings (and the parsers) of the `cake bake` options:
 *
 *   image:
 *     hostname: web            # --hostname (default: the env's name)
 *     size: 2G                 # --size (default: auto)
 *     boot: both               # --boot: bios, efi or both (default)
 *     format: qcow2            # --format: raw (default) or qcow2
 *     kernel: debian           # --kernel: debian, debian:[RELEASE/]PACKAGE[=VERSION], env, or a bzImage path
 *     keys: [ssh-ed25519 AAAA… me@laptop]   # root's authorized_keys (public keys, written in the recipe)
 *     cmdline: quiet           # --cmdline: extra kernel command line words (a string or a list)
 *
 * The section changes no step and no hash: it is read only by --bake. A kernel path is a host
 * path, confined like `copy:` (the recipe's directory, or host_paths:).
 */
import { isSeq } from 'yaml';
import { checkHostname, hostnameFromEnv, parseCmdline, parseKernelSpec, parseSize, type BakeOptions, type KernelSpec } from '../model/bake-options.js';
import { RecipeChecker as Checker, sub, type Node } from './recipe-checker.js';
import type { Located } from './recipe-types.js';

export interface ImageSpec {
  hostname?: string;
  size?: number | 'auto';
  boot?: 'bios' | 'efi' | 'both';
  format?: 'raw' | 'qcow2';
  kernel?: KernelSpec;
  /** Where a kernel path was written (for the host-path confinement). */
  kernelAt?: Located<string>;
  keys?: string[];
  cmdline?: string[];
}

const KEY = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;

/** Runs a bake option parser, turning its UsageError into a problem at `node`. */
function checked<T>(c: Checker, node: Node, path: string, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    return c.fail(node, path, (err as Error).message.replace(/^invalid --[a-z-]+ /, 'invalid value '));
  }
}

/** Parses the `image:` mapping; problems go to `c`. */
export function parseImage(c: Checker, node: Node): ImageSpec | undefined {
  const f = c.map(node, 'image', ['hostname', 'size', 'boot', 'format', 'kernel', 'keys', 'cmdline']);
  if (!f) return undefined;
  const out: ImageSpec = {};
  const at = (k: string) => sub('image', k);
  if (f.has('hostname')) {
    const h = c.str(f.get('hostname'), at('hostname'), { nonEmpty: true });
    if (h !== undefined && checked(c, f.get('hostname'), at('hostname'), () => checkHostname(h)) !== undefined) out.hostname = h;
  }
  if (f.has('size')) {
    const s = c.str(f.get('size'), at('size'), { nonEmpty: true, scalars: true });
    const v = s === undefined ? undefined : checked(c, f.get('size'), at('size'), () => parseSize(s));
    if (v !== undefined) out.size = v;
  }
  if (f.has('boot')) {
    const b = c.oneOf(f.get('boot'), at('boot'), ['bios', 'efi', 'both'] as const);
    if (b) out.boot = b;
  }
  if (f.has('format')) {
    const v = c.oneOf(f.get('format'), at('format'), ['raw', 'qcow2'] as const);
    if (v) out.format = v;
  }
  if (f.has('kernel')) {
    const k = c.str(f.get('kernel'), at('kernel'), { nonEmpty: true });
    const spec = k === undefined ? undefined : checked(c, f.get('kernel'), at('kernel'), () => parseKernelSpec(k));
    if (spec?.kind === 'path') {
      const path = c.hostPath(spec.path);
      out.kernel = { kind: 'path', path };
      out.kernelAt = { value: path, at: c.at(f.get('kernel'), at('kernel')) };
    } else if (spec) out.kernel = spec;
  }
  if (f.has('keys')) {
    const keys = c.strs(f.get('keys'), at('keys')) ?? [];
    for (const k of keys) if (!KEY.test(k.value.trim())) c.fail(f.get('keys'), k.at.path, 'expected an SSH public key line (ssh-ed25519 AAAA… comment); give the key itself, not a file or a private key');
    out.keys = keys.map((k) => k.value.trim());
  }
  if (f.has('cmdline')) {
    const n = f.get('cmdline');
    const words = isSeq(n) ? c.strs(n, at('cmdline'))?.map((w) => w.value) : [c.str(n, at('cmdline'), { nonEmpty: true })].filter((w): w is string => w !== undefined);
    if (words) out.cmdline = parseCmdline(words);
  }
  return out;
}

/**
 * The `cake bake` options for baking env `env` into `output` as `spec` says; `bios` is whether
 * BIOS boot is wanted and possible (the caller checks for syslinux).
 */
export function bakeOptionsOf(spec: ImageSpec | undefined, env: string, output: string, bios: boolean, hostEnv: Record<string, string | undefined>): BakeOptions {
  const boot = spec?.boot ?? 'both';
  const sde = hostEnv.SOURCE_DATE_EPOCH;
  return {
    env,
    output,
    format: spec?.format ?? 'raw',
    bios: bios && boot !== 'efi',
    efi: boot !== 'bios',
    size: spec?.size ?? 'auto',
    kernel: spec?.kernel ?? parseKernelSpec(undefined),
    moduleDirs: [],
    extraModules: [],
    cmdline: spec?.cmdline ?? [],
    hostname: spec?.hostname ?? hostnameFromEnv(env),
    ...(spec?.keys && spec.keys.length > 0 ? { sshKeys: `${spec.keys.join('\n')}\n` } : {}),
    ...(sde && /^\d+$/.test(sde) ? { sourceDateEpoch: Number(sde) } : {}),
    ...(hostEnv.CAKE_BAKE_SEED ? { seed: hostEnv.CAKE_BAKE_SEED } : {}),
  };
}
