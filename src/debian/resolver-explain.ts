/**
 * Explains why a problem has no solution, as a chain a person can follow:
 * "cannot install foo: foo 1.0 needs bar (>= 2), but only bar 1.5 is available", or for deeper
 * chains "cannot install a: a 1 -> b 1 -> c (>= 2), but only c 1.5 is available".
 *
 * It re-runs plain unit propagation over the problem (no search) while remembering why each
 * package became needed or impossible. Most real failures (missing packages or versions,
 * conflicts between things that are all needed) show up that way; failures that need search to
 * find are summarised with the conflicts the solver ran into. Pure, no I/O.
 */
import { CakeError } from '../model/errors.js';
import type { PackageRecord } from './package-index.js';
import { formatAlternatives, formatRelation } from './relations.js';
import { type Exclusion, type Obligation, type Problem, ROOT } from './resolver-problem.js';

type WhyFalse = { kind: 'dep'; ob: Obligation } | { kind: 'excl'; ex: Exclusion; other: number };

interface Segment {
  path: string[];
  /** 'needs': tail is a relation and what went wrong with it; 'raw': tail is appended as is. */
  conn: 'needs' | 'raw';
  tail: string;
}

const MAX_DEPTH = 6;
const MAX_CHOICES = 4;

export function explainFailure(problem: Problem, conflictsMet: readonly Exclusion[]): CakeError {
  const n = problem.pkgs.length;
  const val = new Int8Array(n);
  const whyTrue: Array<Obligation | undefined> = new Array(n);
  const whyFalse: Array<WhyFalse | undefined> = new Array(n);
  let contradiction = -1;

  const setTrue = (v: number, ob: Obligation | undefined): boolean => {
    if (val[v] === 1) return false;
    whyTrue[v] = ob;
    if (val[v] === -1) contradiction = v;
    val[v] = 1;
    return true;
  };
  const setFalse = (v: number, why: WhyFalse): boolean => {
    if (val[v] === -1) return false;
    whyFalse[v] = why;
    if (val[v] === 1) contradiction = v;
    val[v] = -1;
    return true;
  };

  // First only what cannot be installed at all (so that a failing alternative is explained
  // in full), then also what is needed and what that excludes.
  const propagate = (forward: boolean): void => {
    let changed = true;
    while (changed && contradiction < 0) {
      changed = false;
      for (let v = 0; v < n && contradiction < 0; v++) {
        if (val[v] === -1) continue;
        for (const ob of problem.hard[v] as Obligation[]) {
          if (ob.cands.some((c) => val[c] === 1)) continue;
          const live = ob.cands.filter((c) => val[c] !== -1);
          if (live.length === 0) changed = setFalse(v, { kind: 'dep', ob }) || changed;
          else if (forward && live.length === 1 && val[v] === 1) changed = setTrue(live[0] as number, ob) || changed;
          if (contradiction >= 0 || val[v] === -1) break;
        }
      }
      if (!forward) continue;
      for (const ex of problem.exclusions) {
        if (contradiction >= 0) break;
        if (val[ex.a] === 1) changed = setFalse(ex.b, { kind: 'excl', ex, other: ex.a }) || changed;
        if (val[ex.b] === 1 && contradiction < 0) changed = setFalse(ex.a, { kind: 'excl', ex, other: ex.b }) || changed;
      }
    }
  };
  setTrue(ROOT, undefined);
  propagate(false);
  propagate(true);

  const pkg = (v: number): PackageRecord => problem.pkgs[v] as PackageRecord;
  const desc = (v: number): string => {
    const p = pkg(v);
    const foreign = p.arch !== 'all' && p.arch !== problem.native;
    return `${p.name}${foreign ? `:${p.arch}` : ''} ${p.version}`;
  };

  /** The packages leading from a request to v (v included), and the request's label. */
  const trueChain = (v: number): { label: string; path: number[] } => {
    const path: number[] = [];
    let at = v;
    let label = '';
    for (let guard = 0; at !== ROOT && guard < n; guard++) {
      path.unshift(at);
      const ob = whyTrue[at];
      if (ob === undefined) break;
      if (ob.head === ROOT) label = ob.label;
      at = ob.head;
    }
    return { label, path };
  };

  const via = (v: number): string => {
    const { label, path } = trueChain(v);
    if (path.length > 1) return `via ${path.slice(0, -1).map(desc).join(' -> ')}`;
    return label === pkg(v).name ? 'requested' : `requested as ${label}`;
  };

  const render = (s: Segment): string => {
    if (s.conn === 'raw') return `${s.path.join(' -> ')}${s.tail}`;
    return s.path.length === 1 ? `${s.path[0]} needs ${s.tail}` : `${s.path.join(' -> ')} -> ${s.tail}`;
  };

  const groupFailure = (ob: Obligation, depth: number): string => {
    if (ob.cands.length === 0) {
      const head = ob.head === ROOT ? undefined : pkg(ob.head);
      return availability(problem, ob, head === undefined || head.arch === 'all' ? problem.native : head.arch);
    }
    const parts = ob.cands.slice(0, MAX_CHOICES).map((c) => render(falseSegment(c, depth + 1)));
    if (ob.cands.length > MAX_CHOICES) parts.push(`${ob.cands.length - MAX_CHOICES} more choices fail too`);
    return parts.join('; ');
  };

  const falseSegment = (v: number, depth: number): Segment => {
    const why = whyFalse[v];
    if (why === undefined || depth > MAX_DEPTH) return { path: [desc(v)], conn: 'raw', tail: ' (cannot be installed)' };
    if (why.kind === 'dep') {
      const { ob } = why;
      if (ob.cands.length === 1) {
        const sub = falseSegment(ob.cands[0] as number, depth + 1);
        return { ...sub, path: [desc(v), ...sub.path] };
      }
      return { path: [desc(v)], conn: 'needs', tail: `${formatAlternatives(ob.group)}, but ${groupFailure(ob, depth)}` };
    }
    const { ex, other } = why;
    let tail: string;
    if (ex.field === 'version') tail = `, but ${desc(other)} is selected instead (${via(other)})`;
    else {
      const verb = ex.field === 'Conflicts' ? 'conflicts with' : 'breaks';
      const rel = ex.rel === undefined ? '' : ` (${ex.field}: ${formatRelation(ex.rel)})`;
      tail =
        ex.declaredBy === v
          ? `, which ${verb} ${desc(other)}${rel}, needed (${via(other)})`
          : `, but ${desc(other)} (${via(other)}) ${verb} it${rel}`;
    }
    return { path: [desc(v)], conn: 'raw', tail };
  };

  if (contradiction === ROOT) {
    const ob = (whyFalse[ROOT] as { kind: 'dep'; ob: Obligation }).ob;
    return failure(`cannot install ${ob.label}: ${groupFailure(ob, 0)}`, ob.cands.length === 0);
  }
  if (contradiction > 0) {
    const { label, path } = trueChain(contradiction);
    const seg = falseSegment(contradiction, 0);
    const full: Segment = { ...seg, path: [...path.slice(0, -1).map(desc), ...seg.path] };
    return failure(`cannot install ${label}: ${render(full)}`, false);
  }
  const labels = (problem.hard[ROOT] as Obligation[]).map((o) => o.label);
  const shown = labels.length > 5 ? `${labels.slice(0, 5).join(', ')} and ${labels.length - 5} more` : labels.join(', ');
  const met = conflictsMet
    .slice(0, 3)
    .map((e) => `${desc(e.declaredBy)} ${e.field === 'version' ? 'excludes' : e.field.toLowerCase()} ${desc(e.declaredBy === e.a ? e.b : e.a)}`);
  return failure(
    `cannot install ${shown}: every combination of alternatives runs into a conflict` +
      (met.length > 0 ? ` (among others: ${met.join('; ')})` : ''),
    false,
  );
}

function failure(message: string, missing: boolean): CakeError {
  return new CakeError('resolver', message, {
    hint: missing
      ? 'check the package name and the suites and components the archive is read from'
      : 'drop or change one of the packages involved, or ask for other versions',
  });
}

/** What the index offers for a group that nothing satisfies. */
function availability(problem: Problem, ob: Obligation, fromArch: string): string {
  const { index, native } = problem;
  const parts = ob.group.map((rel) => {
    const real = index.byName(rel.name);
    const provs = index.providers(rel.name);
    if (real.length === 0 && provs.length === 0) return `${rel.name} is not available`;
    if (rel.op !== undefined) {
      const out: string[] = [];
      if (real.length > 0) {
        const versions = real.map((p) => `${p.name} ${p.version}`);
        out.push(`only ${versions.join(', ')} ${versions.length === 1 ? 'is' : 'are'} available`);
      }
      const unversioned = provs.filter((p) => p.version === undefined).map((p) => p.pkg.name);
      const versioned = provs.filter((p) => p.version !== undefined).map((p) => `${p.pkg.name} (= ${p.version})`);
      if (versioned.length > 0) out.push(`${rel.name} is provided only as ${versioned.join(', ')}`);
      if (unversioned.length > 0) out.push(`${unversioned.join(', ')} provide ${rel.name} without a version`);
      return out.join(' and ');
    }
    if (rel.arch === 'any') return `${rel.name} is not Multi-Arch: allowed`;
    const archs = [...new Set([...real, ...provs.map((p) => p.pkg)].map((p) => p.arch))].join(', ');
    const wanted = rel.arch === undefined ? fromArch : rel.arch === 'native' ? native : rel.arch;
    return `${rel.name} exists only for ${archs}, not for ${wanted}`;
  });
  return parts.join(', and ');
}
