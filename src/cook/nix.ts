/**
 * Nix store closures. The closure of a store path comes from `nix-store -qR` when Nix is installed
 * and knows the path; otherwise from scanning: every file and symlink of a store path is searched
 * for the 32-character hash part of other store paths (as Nix's own reference scanner does), and
 * a hash counts only when an entry of the store has it, so a random match cannot invent a path.
 * Installables (`nixpkgs#hello`) are built or substituted with `nix build`.
 */
import { execFile } from 'node:child_process';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, constants as C } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { findHostProgram } from '../run/host-tools.js';

const run = promisify(execFile);

export const NIX_STORE = '/nix/store';
const HASH = '[0-9a-df-np-sv-z]{32}';
const NAME = '[A-Za-z0-9+\\-._?=]+';

export interface NixDeps {
  hostEnv: Record<string, string | undefined>;
  logger: Logger;
  signal?: AbortSignal;
  /** Default /nix/store. */
  storeDir?: string;
}

/** The store path (`/nix/store/HASH-NAME`) that `p` is or is inside of, or undefined. */
export function storePathRoot(p: string, storeDir = NIX_STORE): string | undefined {
  const m = new RegExp(`^${escape(storeDir)}/(${HASH}-${NAME})(/|$)`).exec(p);
  return m ? `${storeDir}/${m[1]}` : undefined;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when `text` looks like a store path rather than an installable. */
export function isStorePath(text: string, storeDir = NIX_STORE): boolean {
  return storePathRoot(text, storeDir) !== undefined;
}

/**
 * The closure of `paths` (store paths or paths inside them), sorted: from `nix-store -qR`, or by
 * scanning when Nix is not installed or does not know a path. Throws CakeError('not-found') when
 * a path is not in the store.
 */
export async function nixClosure(paths: readonly string[], deps: NixDeps): Promise<{ paths: string[]; method: 'nix-store' | 'scan' }> {
  const storeDir = deps.storeDir ?? NIX_STORE;
  const roots = paths.map((p) => {
    const root = storePathRoot(p, storeDir);
    if (!root || !lstatSync(root, { throwIfNoEntry: false })) {
      throw new CakeError('not-found', `${p} is not in the Nix store`, { hint: 'give a store path that exists (nix-store --realise it first)' });
    }
    return root;
  });
  const nixStore = storeDir === NIX_STORE ? await findHostProgram('nix-store', deps.hostEnv) : undefined;
  if (nixStore) {
    try {
      const { stdout } = await run(nixStore, ['-qR', ...roots], { maxBuffer: 64 << 20, ...(deps.signal ? { signal: deps.signal } : {}) });
      const out = stdout.split('\n').filter((l) => l.startsWith(storeDir + '/'));
      if (out.length > 0) return { paths: [...new Set(out)].sort(), method: 'nix-store' };
    } catch (err) {
      deps.logger.debug(`nix-store -qR failed (${(err as Error).message.split('\n')[0]}); scanning for references instead`);
    }
  }
  return { paths: scanClosure(roots, storeDir), method: 'scan' };
}

/** The closure of `roots` by scanning their files for the hash parts of other store entries. */
export function scanClosure(roots: readonly string[], storeDir = NIX_STORE): string[] {
  const byHash = new Map<string, string>();
  for (const name of readdirSync(storeDir)) {
    const m = new RegExp(`^(${HASH})-${NAME}$`).exec(name);
    if (m && !name.endsWith('.lock') && !name.endsWith('.drv')) byHash.set(m[1]!, `${storeDir}/${name}`);
  }
  const done = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (done.has(p)) continue;
    done.add(p);
    for (const h of scanPath(p)) {
      const ref = byHash.get(h);
      if (ref && !done.has(ref)) todo.push(ref);
    }
  }
  return [...done].sort();
}

const CHUNK = 1 << 20;

/** Every hash part that occurs in the files and symlink targets under `p`. */
function scanPath(p: string): Set<string> {
  const found = new Set<string>();
  const re = new RegExp(`(${HASH})-`, 'g');
  const scanText = (s: string): void => {
    for (const m of s.matchAll(re)) found.add(m[1]!);
  };
  const buf = Buffer.allocUnsafe(CHUNK + 64);
  const walk = (q: string): void => {
    const st = lstatSync(q);
    if (st.isSymbolicLink()) scanText(readlinkSync(q));
    else if (st.isDirectory()) for (const n of readdirSync(q)) walk(join(q, n));
    else if (st.isFile()) {
      const fd = openSync(q, C.O_RDONLY | C.O_NOFOLLOW);
      try {
        let carry = 0;
        for (;;) {
          const n = readSync(fd, buf, carry, CHUNK, null);
          if (n === 0) break;
          const end = carry + n;
          scanText(buf.toString('latin1', 0, end));
          // keep the tail so a hash split across two reads is still seen
          carry = Math.min(33, end);
          buf.copy(buf, 0, end - carry, end);
        }
      } finally {
        closeSync(fd);
      }
    }
  };
  walk(p);
  return found;
}

/**
 * Builds or substitutes an installable (`nixpkgs#hello`, `/path/to/flake#pkg`) and returns its
 * output store paths. Needs Nix with flakes; CakeError('missing-tool') without it.
 */
export async function resolveInstallable(installable: string, deps: NixDeps): Promise<string[]> {
  const nix = await findHostProgram('nix', deps.hostEnv);
  if (!nix) throw new CakeError('missing-tool', `nix is not installed: cannot resolve ${installable}`, { hint: 'sudo apt-get install nix-bin, or give a /nix/store path' });
  deps.logger.info(`resolving ${installable} with nix build`);
  try {
    const { stdout } = await run(nix, ['--extra-experimental-features', 'nix-command flakes', 'build', '--no-link', '--print-out-paths', installable], {
      maxBuffer: 16 << 20,
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
    const out = stdout.split('\n').filter((l) => isStorePath(l));
    if (out.length === 0) throw new Error('no output paths');
    return out.sort();
  } catch (err) {
    const detail = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop();
    throw new CakeError('not-found', `nix build ${installable} failed: ${detail}`, { cause: err });
  }
}
