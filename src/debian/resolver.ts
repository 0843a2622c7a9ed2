/**
 * Chooses the packages to install from a {@link PackageIndex}: versions, alternatives, virtual
 * packages and versioned Provides, Conflicts and Breaks (self-conflicts through Provides
 * ignored), Multi-Arch qualifiers, optional Recommends, and the debootstrap/mmdebstrap variants.
 *
 * The search is complete (a CDCL SAT search: an alternative that leads into a conflict is undone
 * and the next one tried) but its decisions follow apt's habits, so results look like apt's:
 * dependencies are satisfied in the order they are met, an OR group's alternatives in the order
 * listed, a virtual package's providers by Essential, native architecture, Priority (required >
 * important > standard > optional > extra) and then apt's package ID (the provider whose name
 * apt's cache met last wins a tie, not the first by name), the newest version first. Older versions are
 * tried after every candidate of a relation: so a pinned package (`NAME=VERSION`) pulls the older
 * versions its exact dependencies need through unversioned ones (as apt installs a consistent
 * older set), while an unpinned request still gets the candidates. Pure, no I/O.
 */
import { CakeError } from '../model/errors.js';
import type { PackageIndex, PackageRecord } from './package-index.js';
import { formatAlternatives, type Relation } from './relations.js';
import { explainFailure } from './resolver-explain.js';
import { installBatches, type OrderEdge } from './resolver-order.js';
import { type Exclusion, type Obligation, type Problem, ROOT, type Root, buildProblem } from './resolver-problem.js';
import { SatSolver, TRUE, UNSET, neg, pos } from './resolver-sat.js';

/**
 * - essential: every Essential: yes package and its dependencies (mmdebstrap's "essential");
 * - minbase: essential + Priority: required + apt (debootstrap's minbase, mmdebstrap's "required");
 * - standard: minbase + Priority: important and standard;
 * - none: only what `install` names.
 */
export type Variant = 'essential' | 'minbase' | 'standard' | 'none';

export interface ResolveRequest {
  /** Package names, optionally `name:arch`, `name=version` or `name:arch=version`. */
  install: readonly string[];
  variant: Variant;
  /** Install Recommends where they can be satisfied (skipped silently where they cannot). */
  recommends: boolean;
  /** The native architecture, e.g. 'amd64'. */
  arch: string;
}

export interface Resolution {
  /** The full set to install, sorted by name. */
  packages: PackageRecord[];
  /**
   * Installation batches: each batch can be unpacked and configured together once the batches
   * before it are configured (Pre-Depends honoured). The essential set comes first.
   */
  order: PackageRecord[][];
  /** Why each package is in: key is the name (`name:arch` for foreign ones). */
  reasons: Map<string, string>;
  /** What a person should be told: the provider picked for a request naming a virtual package, and the others. */
  notes: string[];
}

const REQUEST = /^([A-Za-z0-9][A-Za-z0-9+.-]*)(?::([A-Za-z0-9-]+))?(?:=([^\s/]+)|\/([A-Za-z0-9][A-Za-z0-9.+-]*))?$/;

/** A request: a relation, or (apt's `NAME/RELEASE` form) the version of that suite. */
export type PackageRequest = Relation & { release?: string };

/** Parses one `install` entry. Throws CakeError('resolver') for text that is not one. */
export function parseRequest(text: string): PackageRequest {
  const m = REQUEST.exec(text.trim());
  if (m === null) {
    throw new CakeError('resolver', `bad package request '${text}'`, {
      hint: 'write NAME, NAME:ARCH, NAME=VERSION, NAME:ARCH=VERSION or NAME/RELEASE',
    });
  }
  const rel: PackageRequest = { name: m[1] as string };
  if (m[2] !== undefined) rel.arch = m[2];
  if (m[3] !== undefined) {
    rel.op = '=';
    rel.version = m[3];
  }
  if (m[4] !== undefined) rel.release = m[4];
  return rel;
}

/** The root of a `NAME/RELEASE` request: the newest version of NAME listed in that suite. */
function releaseRoot(index: PackageIndex, req: PackageRequest, label: string, native: string): Root {
  const arch = req.arch ?? native;
  const listed = (p: PackageRecord): boolean => p.suite === req.release || (req.release !== undefined && p.alsoIn?.includes(req.release) === true);
  const inSuite = index.byName(req.name).filter((p) => listed(p) && (p.arch === arch || p.arch === 'all'));
  const exact = inSuite[0];
  if (exact === undefined) {
    const suites = [...new Set(index.byName(req.name).flatMap((p) => [p.suite ?? '?', ...(p.alsoIn ?? [])].map((s) => `${s} (${p.version})`)))];
    throw new CakeError('resolver', `${label}: ${req.name} is not in ${req.release ?? '?'}`, {
      hint: suites.length ? `${req.name} is in ${suites.join(', ')}` : `no suite read has ${req.name}; check the name`,
    });
  }
  return { rel: { name: req.name, op: '=', version: exact.version, ...(req.arch ? { arch: req.arch } : {}) }, exact, label };
}

/**
 * Resolves `request` against `index`. Deterministic: the same index and request give the same
 * answer. Throws CakeError('resolver') when no solution exists, with the chain that fails.
 */
export function resolve(index: PackageIndex, request: ResolveRequest): Resolution {
  const roots = [...variantRoots(index, request.variant, request.arch)];
  for (const text of request.install) {
    const req = parseRequest(text);
    roots.push(req.release !== undefined ? releaseRoot(index, req, text.trim(), request.arch) : { rel: req, label: text.trim() });
  }
  const problem = buildProblem(index, roots, { native: request.arch, recommends: request.recommends });
  const selected = solve(problem);
  return { ...buildResolution(problem, selected), notes: virtualNotes(problem, selected) };
}

/**
 * Where only-virtual names are handled for requests: for each request naming a virtual package
 * (no real package of that name), which provider was picked (the first candidate in the order
 * resolver-problem.ts gives providers, apt's) and which others exist: apt says the same ("Note,
 * selecting X instead of Y").
 */
function virtualNotes(problem: Problem, selected: readonly number[]): string[] {
  const chosen = new Set(selected);
  const notes: string[] = [];
  for (const ob of problem.hard[ROOT] as Obligation[]) {
    const rel = ob.group[0];
    if (rel === undefined || ob.kind !== 'request' || problem.index.byName(rel.name).length > 0) continue;
    const names = (vs: number[]): string[] => [...new Set(vs.map((v) => (problem.pkgs[v] as PackageRecord).name))];
    const picked = names(ob.cands.filter((v) => chosen.has(v)));
    const others = names(ob.cands.filter((v) => !chosen.has(v))).filter((n) => !picked.includes(n));
    if (picked.length === 0) continue;
    notes.push(`${ob.label} is a virtual package: installing ${picked.join(', ')}${others.length ? `; other providers: ${others.join(', ')} (name one to choose it)` : ''}`);
  }
  return notes;
}

/** The roots a variant asks for, in a stable order: essential, then by priority, then apt. */
function variantRoots(index: PackageIndex, variant: Variant, native: string): Root[] {
  if (variant === 'none') return [];
  const wanted =
    variant === 'essential' ? [] : variant === 'minbase' ? ['required'] : ['required', 'important', 'standard'];
  const essential: PackageRecord[] = [];
  const byPriority: PackageRecord[] = [];
  for (const name of index.names()) {
    const c = index.candidate(name, native);
    if (c === undefined) continue;
    if (c.essential) essential.push(c);
    else if (wanted.includes(c.priority)) byPriority.push(c);
  }
  const byName = (a: PackageRecord, b: PackageRecord): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  essential.sort(byName);
  byPriority.sort((a, b) => wanted.indexOf(a.priority) - wanted.indexOf(b.priority) || byName(a, b));
  const roots: Root[] = [
    ...essential.map((p) => ({ rel: { name: p.name }, exact: p, label: `${p.name} (Essential: yes)` })),
    ...byPriority.map((p) => ({ rel: { name: p.name }, exact: p, label: `${p.name} (Priority: ${p.priority})` })),
  ];
  if (variant !== 'essential') roots.push({ rel: { name: 'apt' }, label: `apt (${variant})` });
  return roots;
}

/** Runs the search; returns the selected variables or throws the explained failure. */
function solve(problem: Problem): number[] {
  const solver = new SatSolver();
  for (let v = 0; v < problem.pkgs.length; v++) solver.newVar();
  solver.addClause([pos(ROOT)]);
  for (let v = 0; v < problem.pkgs.length; v++) {
    for (const ob of problem.hard[v] as Obligation[]) solver.addClause([neg(v), ...ob.cands.map(pos)]);
  }
  const byClause = new Map<number, Exclusion>();
  for (const ex of problem.exclusions) {
    const ci = solver.addClause([neg(ex.a), neg(ex.b)]);
    if (ci >= 0) byClause.set(ci, ex);
  }

  // Cursors into the trail: every obligation of a true package before them is satisfied.
  let hardAt = 0;
  let softAt = 0;
  solver.onBackjump = () => {
    hardAt = 0;
    softAt = 0;
  };
  const pick = (ob: Obligation, hard: boolean): number => {
    let choice = -1;
    for (const c of ob.cands) {
      const value = solver.value(pos(c));
      if (value === TRUE) return -1;
      if (value === UNSET && choice < 0) choice = c;
    }
    if (choice < 0 && hard) throw new CakeError('internal', 'resolver: unit propagation missed a dependency');
    return choice < 0 ? -1 : pos(choice);
  };
  const decide = (): number => {
    const trail = solver.assignmentTrail;
    for (; hardAt < trail.length; hardAt++) {
      const lit = trail[hardAt] as number;
      if (lit & 1) continue;
      for (const ob of problem.hard[lit >> 1] as Obligation[]) {
        const d = pick(ob, true);
        if (d >= 0) return d;
      }
    }
    for (; softAt < trail.length; softAt++) {
      const lit = trail[softAt] as number;
      if (lit & 1) continue;
      for (const ob of problem.soft[lit >> 1] as Obligation[]) {
        const d = pick(ob, false);
        if (d >= 0) return d;
      }
    }
    return -1;
  };
  const met: Exclusion[] = [];
  // Remember the Conflicts/Breaks behind the first conflicts met, for the failure summary.
  const onConflict = (ci: number): void => {
    const note = (ex: Exclusion | undefined): void => {
      if (ex !== undefined && met.length < 20 && !met.includes(ex)) met.push(ex);
    };
    note(byClause.get(ci));
    for (const lit of solver.clauseLiterals(ci)) note(byClause.get(solver.reasonOf(lit >> 1)));
  };
  if (!solver.solve(decide, onConflict)) throw explainFailure(problem, met);

  const selected: number[] = [];
  for (let v = 1; v < problem.pkgs.length; v++) if (solver.value(pos(v)) === TRUE) selected.push(v);
  const chosen = new Set(selected);
  check(problem, selected, (v) => chosen.has(v));
  return selected;
}

/** Cheap insurance: the answer must satisfy every hard obligation and exclusion. */
function check(problem: Problem, selected: readonly number[], isTrue: (v: number) => boolean): void {
  for (const v of [ROOT, ...selected]) {
    for (const ob of problem.hard[v] as Obligation[]) {
      if (!ob.cands.some(isTrue)) throw new CakeError('internal', `resolver left ${formatAlternatives(ob.group)} unsatisfied`);
    }
  }
  for (const ex of problem.exclusions) {
    if (isTrue(ex.a) && isTrue(ex.b)) throw new CakeError('internal', 'resolver selected two conflicting packages');
  }
}

const FIELD: Record<Obligation['kind'], string> = {
  request: 'requested',
  'pre-depends': 'Pre-Depends',
  depends: 'Depends',
  recommends: 'Recommends',
};

function buildResolution(problem: Problem, selected: readonly number[]): Omit<Resolution, 'notes'> {
  const inSet = new Set(selected);
  const { pkgs, native } = problem;
  const keyOf = (p: PackageRecord): string => (p.arch === 'all' || p.arch === native ? p.name : `${p.name}:${p.arch}`);

  // Reasons: breadth-first from the requests, the first obligation a package satisfies.
  const reasons = new Map<string, string>();
  const reached = new Set<number>([ROOT]);
  const queue = [ROOT];
  while (queue.length > 0) {
    const v = queue.shift() as number;
    const head = pkgs[v];
    for (const ob of [...(problem.hard[v] as Obligation[]), ...(problem.soft[v] as Obligation[])]) {
      for (const c of ob.cands) {
        if (!inSet.has(c) || reached.has(c)) continue;
        reached.add(c);
        queue.push(c);
        const why =
          head === undefined
            ? ob.label
            : `${FIELD[ob.kind]} of ${head.name} ${head.version}: ${formatAlternatives(ob.group)}`;
        reasons.set(keyOf(pkgs[c] as PackageRecord), why);
      }
    }
  }
  for (const v of selected) {
    const key = keyOf(pkgs[v] as PackageRecord);
    if (!reasons.has(key)) reasons.set(key, 'needed to satisfy the other choices');
  }

  const edges: OrderEdge[] = [];
  for (const v of selected) {
    for (const ob of problem.hard[v] as Obligation[]) {
      for (const c of ob.cands) if (inSet.has(c)) edges.push({ from: v, to: c, pre: ob.kind === 'pre-depends' });
    }
  }
  const packages = selected
    .map((v) => pkgs[v] as PackageRecord)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
  return { packages, order: installBatches(pkgs, selected, edges), reasons };
}
