/**
 * Turns "install these" into a solver problem: one variable per package version reachable from
 * the roots (through every alternative of Pre-Depends, Depends and, when wanted, Recommends),
 * obligations with their candidates in preference order, and the pairs that cannot be installed
 * together (Conflicts, Breaks, two versions of one package). Pure, no I/O.
 */
import type { PackageIndex, PackageRecord } from './package-index.js';
import type { Alternatives, Relation } from './relations.js';

export type ObligationKind = 'request' | 'pre-depends' | 'depends' | 'recommends';

/** "head needs one of cands": a dependency group of a package, or a root request. */
export interface Obligation {
  /** The variable of the package declaring it; ROOT for requests. */
  head: number;
  kind: ObligationKind;
  group: Alternatives;
  /** For requests: what was asked, as the user or variant spelt it. */
  label: string;
  /** Candidate variables, most preferred first. */
  cands: number[];
}

/** Two variables that cannot both be true. */
export interface Exclusion {
  a: number;
  b: number;
  /** Who declared it, and how; 'version' when a and b are two versions of one package. */
  declaredBy: number;
  field: 'Conflicts' | 'Breaks' | 'version';
  rel?: Relation;
}

export interface Root {
  /** What to satisfy. With `exact`, only that record does. */
  rel: Relation;
  exact?: PackageRecord;
  label: string;
}

export const ROOT = 0;

export interface Problem {
  index: PackageIndex;
  native: string;
  /** Variable → package; index 0 (ROOT) is undefined. */
  pkgs: Array<PackageRecord | undefined>;
  varOf: Map<PackageRecord, number>;
  /** Per variable: hard obligations (requests of ROOT, then Pre-Depends, then Depends). */
  hard: Obligation[][];
  /** Per variable: Recommends, when asked for. */
  soft: Obligation[][];
  exclusions: Exclusion[];
}

const PRIORITY_RANK: Record<string, number> = {
  required: 0,
  important: 1,
  standard: 2,
  optional: 3,
  extra: 4,
};

export function priorityRank(p: PackageRecord): number {
  return PRIORITY_RANK[p.priority] ?? 3;
}

/** Builds the problem for `roots`, expanding the closure breadth-first. */
export function buildProblem(
  index: PackageIndex,
  roots: readonly Root[],
  options: { native: string; recommends: boolean },
): Problem {
  const { native } = options;
  const problem: Problem = {
    index,
    native,
    pkgs: [undefined],
    varOf: new Map(),
    hard: [[]],
    soft: [[]],
    exclusions: [],
  };
  const queue: number[] = [];
  const varFor = (p: PackageRecord): number => {
    let v = problem.varOf.get(p);
    if (v === undefined) {
      v = problem.pkgs.length;
      problem.pkgs.push(p);
      problem.varOf.set(p, v);
      problem.hard.push([]);
      problem.soft.push([]);
      queue.push(v);
    }
    return v;
  };
  const archRank = (p: PackageRecord): number => (p.arch === native || p.arch === 'all' ? 0 : 1);

  const candidatesFor = (rel: Relation, fromArch: string): PackageRecord[] => {
    let list = index.satisfying(rel, { native, fromArch });
    // An unversioned relation prefers candidates; older versions come after all of them, for
    // when a pinned version's exact dependencies rule the candidates out.
    let older: PackageRecord[] = [];
    if (rel.op === undefined) {
      older = list.filter((p) => !index.isCandidate(p));
      list = list.filter((p) => index.isCandidate(p));
    }
    const real = list.filter((p) => p.name === rel.name);
    const provided = list.filter((p) => p.name !== rel.name);
    real.sort((a, b) => archRank(a) - archRank(b));
    // Among providers, prefer what apt's CompareProviders prefers (for a package not yet
    // installed): Essential, native architecture, higher Priority, then the higher apt package ID
    // (the name apt's cache met last; see PackageIndex.aptId), and the name only as a last resort.
    provided.sort(
      (a, b) =>
        Number(b.essential) - Number(a.essential) ||
        archRank(a) - archRank(b) ||
        priorityRank(a) - priorityRank(b) ||
        index.aptId(b.name) - index.aptId(a.name) ||
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    return [...real, ...provided, ...older];
  };

  const obligation = (head: number, kind: ObligationKind, group: Alternatives, fromArch: string, label = ''): Obligation => {
    const cands: number[] = [];
    for (const rel of group) {
      for (const p of candidatesFor(rel, fromArch)) {
        const v = varFor(p);
        if (!cands.includes(v)) cands.push(v);
      }
    }
    return { head, kind, group, label, cands };
  };

  for (const root of roots) {
    const ob = root.exact
      ? { head: ROOT, kind: 'request' as const, group: [root.rel], label: root.label, cands: [varFor(root.exact)] }
      : obligation(ROOT, 'request', [root.rel], native, root.label);
    (problem.hard[ROOT] as Obligation[]).push(ob);
  }

  while (queue.length > 0) {
    const v = queue.shift() as number;
    const p = problem.pkgs[v] as PackageRecord;
    const hard = problem.hard[v] as Obligation[];
    for (const g of p.preDepends) hard.push(obligation(v, 'pre-depends', g, p.arch));
    for (const g of p.depends) hard.push(obligation(v, 'depends', g, p.arch));
    if (options.recommends) {
      const soft = problem.soft[v] as Obligation[];
      for (const g of p.recommends) soft.push(obligation(v, 'recommends', g, p.arch));
    }
  }

  addExclusions(problem);
  return problem;
}

/** Conflicts and Breaks among the variables, and one version per package and architecture. */
function addExclusions(problem: Problem): void {
  const { index, native, pkgs, varOf, exclusions } = problem;
  const seen = new Set<string>();
  const add = (e: Exclusion): void => {
    const key = e.a < e.b ? `${e.a},${e.b}` : `${e.b},${e.a}`;
    if (seen.has(key)) return;
    seen.add(key);
    exclusions.push(e);
  };
  const slots = new Map<string, number[]>();
  for (let v = 1; v < pkgs.length; v++) {
    const p = pkgs[v] as PackageRecord;
    // dpkg installs one instance of a name, or one per architecture for Multi-Arch: same.
    const slot = p.multiArch === 'same' ? `${p.name}:${p.arch === 'all' ? native : p.arch}` : p.name;
    let list = slots.get(slot);
    if (list === undefined) slots.set(slot, (list = []));
    for (const other of list) add({ a: other, b: v, declaredBy: v, field: 'version' });
    list.push(v);
    for (const [field, groups] of [
      ['Conflicts', p.conflicts],
      ['Breaks', p.breaks],
    ] as const) {
      for (const group of groups) {
        for (const rel of group) {
          for (const q of index.satisfying(rel, { native, fromArch: p.arch, kind: 'conflicts' })) {
            // A package never conflicts with itself, e.g. through a virtual name it provides.
            if (q.name === p.name) continue;
            const w = varOf.get(q);
            if (w !== undefined) add({ a: v, b: w, declaredBy: v, field, rel });
          }
        }
      }
    }
  }
}
