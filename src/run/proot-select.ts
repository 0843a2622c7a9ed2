/**
 * Which proot the proot engine uses: the first candidate (proot-tool.ts: CAKE_PROOT, a proot
 * provisioned earlier, the system's) that passes the self-check, with seccomp acceleration when
 * that passes too, else with PROOT_NO_SECCOMP=1; and when none does, one provisioned from the
 * Debian archive right now (through `deps.kits`, src/kit/proot-provision.ts).
 */
import { CakeError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { ProotTool } from './proot-argv.js';
import type { KitProvider } from './kit-provider.js';
import { findProotCandidates, probeProot, type ProotCandidate } from './proot-tool.js';
import { firstFailure, selfCheck, type SelfCheckDeps, type SelfCheckResult } from './self-check.js';

export interface ProotSelectDeps extends SelfCheckDeps {
  logger: Logger;
  /** Without it a missing or failing proot is an error (and no provisioned one is found); with it cake provisions one. */
  kits?: KitProvider;
}

export interface ProotSelection {
  binary: string;
  reason: string;
  checks: SelfCheckResult[];
  seccomp: boolean;
  tool: ProotTool;
  candidate: ProotCandidate;
}

/** One candidate's verdict, for `cake doctor`. */
export interface ProotVerdict {
  origin: ProotCandidate['origin'];
  binary: string;
  version?: string;
  ok: boolean;
  /** When ok: whether seccomp acceleration passed too. */
  seccomp?: boolean;
  /** What passed, or the first failed check. */
  detail: string;
}

export const PROOT_HINT =
  'use --engine userns (or auto) where user namespaces work; proot 5.4 or newer passes the self-check (point CAKE_PROOT at one)';

/** "system proot /usr/bin/proot", "provisioned proot 5.4.0-3", "CAKE_PROOT=/opt/proot". Pure. */
export function describeCandidate(c: ProotCandidate): string {
  if (c.origin === 'user') return `CAKE_PROOT=${c.binary}`;
  if (c.origin === 'provisioned') return c.version === undefined ? 'provisioned proot' : `provisioned proot ${c.version}`;
  return `system proot ${c.binary}`;
}

export interface CandidateVerdict {
  /** The candidate as it passed (with its fallbackEnv merged into env when that was needed). */
  candidate: ProotCandidate;
  checks: SelfCheckResult[];
  seccomp: boolean;
  failure?: SelfCheckResult;
}

/**
 * Self-checks one candidate with seccomp, then without; when both fail and it has a fallbackEnv,
 * again with that. Cached per binary, identity and mode.
 */
export async function checkCandidate(c: ProotCandidate, deps: SelfCheckDeps): Promise<CandidateVerdict> {
  const first = await checkModes(c, deps);
  if (first.failure === undefined || c.fallbackEnv === undefined) return first;
  const { fallbackEnv, ...rest } = c;
  const second = await checkModes({ ...rest, env: { ...c.env, ...fallbackEnv } }, deps);
  return second.failure === undefined ? second : first;
}

async function checkModes(c: ProotCandidate, deps: SelfCheckDeps): Promise<CandidateVerdict> {
  const mode: Record<string, string> = Object.fromEntries(Object.entries(c.env).map(([k, v]) => [`env:${k}`, v]));
  if (c.identity !== undefined) mode.identity = c.identity;
  const withSeccomp = await selfCheck('proot', c.binary, { seccomp: 'on', ...mode }, deps);
  if (!firstFailure(withSeccomp)) return { candidate: c, checks: withSeccomp, seccomp: true };
  const without = await selfCheck('proot', c.binary, { seccomp: 'off', ...mode }, deps);
  const bad = firstFailure(without);
  deps.logger.debug(`${describeCandidate(c)}: with seccomp ${summary(withSeccomp)}; without ${summary(without)}`);
  return bad ? { candidate: c, checks: without, seccomp: false, failure: bad } : { candidate: c, checks: without, seccomp: false };
}

function summary(results: SelfCheckResult[]): string {
  return results.map((r) => `${r.name}=${r.ok ? 'ok' : r.detail}`).join(', ');
}

function passes(c: ProotCandidate, seccomp: boolean): string {
  return `${describeCandidate(c)} passes the self-check ${seccomp ? 'with seccomp' : 'without seccomp (PROOT_NO_SECCOMP=1)'}`;
}

/**
 * The proot to use and why. Tries every candidate in order; when none passes and
 * `deps.kits` is given (and no provisioned proot was among them), provisions one, printing
 * one info line, and self-checks it. Errors: CakeError('missing-tool') when there is no proot at
 * all and provisioning is not possible, else CakeError('engine') naming each failure.
 */
export async function selectProot(deps: ProotSelectDeps): Promise<ProotSelection> {
  const candidates = await findProotCandidates(deps);
  const failures: string[] = [];
  let firstError: CakeError | undefined;
  const attempt = async (c: ProotCandidate): Promise<ProotSelection | undefined> => {
    const tool = await probeProot(c);
    const r = await checkCandidate(c, deps);
    if (r.failure === undefined) {
      const loader = r.candidate.env.PROOT_LOADER !== undefined && c.env.PROOT_LOADER === undefined ? ' (with its own PROOT_LOADER: the temporary directory is not executable)' : '';
      const why = [...failures, passes(c, r.seccomp) + loader].join('; ');
      return { binary: c.binary, reason: why, checks: r.checks, seccomp: r.seccomp, tool: { ...tool, env: r.candidate.env }, candidate: r.candidate };
    }
    failures.push(`${describeCandidate(c)} fails the self-check (${r.failure.detail})`);
    firstError ??= new CakeError('engine', `proot at ${c.binary} failed the self-check: ${r.failure.detail}`, { hint: PROOT_HINT });
    return undefined;
  };
  for (const c of candidates) {
    let s: ProotSelection | undefined;
    try {
      s = await attempt(c);
    } catch (err) {
      // A candidate that cannot even start (CAKE_PROOT pointing nowhere) must not hide the others.
      if (!(err instanceof CakeError) || err.code === 'interrupted') throw err;
      failures.push(`${describeCandidate(c)} does not start (${err.message})`);
      firstError ??= err;
      continue;
    }
    if (s) return s;
  }
  if (deps.kits?.provisionProot === undefined || candidates.some((c) => c.origin === 'provisioned')) {
    if (firstError) throw firstError;
    throw new CakeError('missing-tool', 'proot is not installed', { hint: 'sudo apt-get install proot (5.4 or newer), or run cake with --engine proot to let it provision one' });
  }
  let candidate: ProotCandidate;
  try {
    candidate = await deps.kits.provisionProot({ logger: deps.logger, cacheDir: deps.cacheDir, ...(deps.signal ? { signal: deps.signal } : {}) });
  } catch (err) {
    if (!(err instanceof CakeError) || err.code === 'interrupted') throw err;
    const before = firstError ? `${firstError.message}; ` : 'proot is not installed; ';
    throw new CakeError('engine', `${before}provisioning one from the Debian archive failed: ${err.message}`, { hint: err.hint ?? PROOT_HINT, cause: err });
  }
  const s = await attempt(candidate);
  if (s) return s;
  throw new CakeError('engine', `no proot works here: ${failures.join('; ')}`, { hint: PROOT_HINT });
}

/**
 * Every candidate's verdict (for `cake doctor`), in order; never provisions. Self-checks are
 * cached, so this is cheap after the first run.
 */
export async function inspectProots(deps: SelfCheckDeps & { kits?: KitProvider }): Promise<ProotVerdict[]> {
  const out: ProotVerdict[] = [];
  for (const c of await findProotCandidates(deps)) {
    const base = { origin: c.origin, binary: c.binary, ...(c.version ? { version: c.version } : {}) };
    try {
      await probeProot(c);
      const r = await checkCandidate(c, deps);
      out.push(
        r.failure
          ? { ...base, ok: false, detail: `fails the self-check: ${r.failure.detail}` }
          : { ...base, ok: true, seccomp: r.seccomp, detail: `passes the self-check ${r.seccomp ? 'with seccomp' : 'without seccomp (PROOT_NO_SECCOMP=1)'}` },
      );
    } catch (err) {
      if (err instanceof CakeError && err.code === 'interrupted') throw err;
      out.push({ ...base, ok: false, detail: (err as Error).message });
    }
  }
  return out;
}
