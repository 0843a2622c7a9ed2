/**
 * Installation order for a resolved set: batches that can each be unpacked and configured by
 * one dpkg run. Depends only ask for the same batch or an earlier one (dpkg orders configuration
 * inside a run, cycles included); Pre-Depends ask for an earlier batch, since a package's
 * Pre-Depends must be configured before it is unpacked. The essential set (Essential: yes
 * packages and everything they depend on) comes first. Pure, no I/O.
 */
import type { PackageRecord } from './package-index.js';

export interface OrderEdge {
  from: number;
  to: number;
  /** True for Pre-Depends. */
  pre: boolean;
}

/**
 * Orders `nodes` (indices into `pkgs`) into batches. Pre-Depends inside a dependency cycle cannot
 * be honoured; they are treated like Depends (dpkg would have to break the cycle the same way).
 */
export function installBatches(
  pkgs: ReadonlyArray<PackageRecord | undefined>,
  nodes: readonly number[],
  edges: readonly OrderEdge[],
): PackageRecord[][] {
  const out = new Map<number, number[]>();
  for (const v of nodes) out.set(v, []);
  const edgeList = edges.filter((e) => out.has(e.from) && out.has(e.to) && e.from !== e.to);
  for (const [i, e] of edgeList.entries()) (out.get(e.from) as number[]).push(i);

  // The essential set: Essential: yes packages and their dependency closure.
  const essential = new Set<number>();
  const stack = nodes.filter((v) => pkgs[v]?.essential === true);
  while (stack.length > 0) {
    const v = stack.pop() as number;
    if (essential.has(v)) continue;
    essential.add(v);
    for (const i of out.get(v) as number[]) stack.push((edgeList[i] as OrderEdge).to);
  }
  const first = levels(nodes.filter((v) => essential.has(v)), edgeList, out);
  const rest = levels(nodes.filter((v) => !essential.has(v)), edgeList, out);
  const batches: number[][] = [];
  for (const part of [first, rest]) {
    const base = batches.length;
    for (const [v, level] of part) {
      while (batches.length <= base + level) batches.push([]);
      (batches[base + level] as number[]).push(v);
    }
  }
  return batches
    .filter((b) => b.length > 0)
    .map((b) => b.map((v) => pkgs[v] as PackageRecord).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)));
}

/**
 * Longest-path levels over the strongly connected components of the subgraph on `nodes`
 * (Tarjan's algorithm, iterative). Edges leaving `nodes` are already satisfied and ignored.
 */
function levels(nodes: readonly number[], edges: readonly OrderEdge[], out: Map<number, number[]>): Map<number, number> {
  const inSet = new Set(nodes);
  const index = new Map<number, number>();
  const low = new Map<number, number>();
  const onStack = new Set<number>();
  const stack: number[] = [];
  const comp = new Map<number, number>();
  const compLevel: number[] = [];
  let counter = 0;

  const finish = (members: number[]): void => {
    const c = compLevel.length;
    for (const m of members) comp.set(m, c);
    let level = 0;
    for (const m of members) {
      for (const i of out.get(m) as number[]) {
        const e = edges[i] as OrderEdge;
        const target = comp.get(e.to);
        if (!inSet.has(e.to) || target === undefined || target === c) continue;
        level = Math.max(level, (compLevel[target] as number) + (e.pre ? 1 : 0));
      }
    }
    compLevel.push(level);
  };

  for (const start of nodes) {
    if (index.has(start)) continue;
    // Each frame: a node and the position in its edge list.
    const work: Array<[number, number]> = [[start, 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1] as [number, number];
      const [v, at] = frame;
      const list = out.get(v) as number[];
      if (at < list.length) {
        frame[1]++;
        const w = (edges[list[at] as number] as OrderEdge).to;
        if (!inSet.has(w)) continue;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent[0], Math.min(low.get(parent[0]) as number, low.get(v) as number));
      if (low.get(v) === index.get(v)) {
        const members: number[] = [];
        let w: number;
        do {
          w = stack.pop() as number;
          onStack.delete(w);
          members.push(w);
        } while (w !== v);
        finish(members);
      }
    }
  }
  const result = new Map<number, number>();
  for (const v of nodes) result.set(v, compLevel[comp.get(v) as number] as number);
  return result;
}
