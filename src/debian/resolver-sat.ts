/**
 * A small CDCL SAT solver (two watched literals, first-UIP clause learning, non-chronological
 * backjumping) whose decisions come from the caller, so that the caller's notion of "what to
 * install next, and which alternative first" drives the search while conflicts still get
 * learnt and undone properly. Variables left unassigned when the caller has nothing left to
 * decide are false. Pure, no I/O.
 *
 * Literals are integers: `2 * v` is "v is true", `2 * v + 1` is "v is false".
 */

/** The literal "v is true". */
export const pos = (v: number): number => v << 1;
/** The literal "v is false". */
export const neg = (v: number): number => (v << 1) | 1;

/** Values returned by {@link SatSolver.value}. */
export const TRUE = 1;
export const FALSE = -1;
export const UNSET = 0;

export class SatSolver {
  private readonly assigns: number[] = []; // per var: TRUE, FALSE, UNSET
  private readonly levels: number[] = [];
  private readonly reasons: number[] = []; // clause index, or -1 for decisions and units
  private readonly trail: number[] = [];
  private readonly trailLim: number[] = [];
  private readonly clauses: number[][] = [];
  private readonly watchers: number[][] = []; // per literal: clauses watching it
  private qhead = 0;
  private ok = true;
  /** Number of conflicts met so far (a measure of how much searching happened). */
  conflicts = 0;

  newVar(): number {
    const v = this.assigns.length;
    this.assigns.push(UNSET);
    this.levels.push(0);
    this.reasons.push(-1);
    this.watchers.push([], []);
    return v;
  }

  get varCount(): number {
    return this.assigns.length;
  }

  /** The value of a literal: TRUE, FALSE or UNSET. */
  value(lit: number): number {
    const a = this.assigns[lit >> 1] as number;
    return lit & 1 ? -a : a;
  }

  /** The literals of the current trail, in assignment order (read-only view). */
  get assignmentTrail(): readonly number[] {
    return this.trail;
  }

  /**
   * Adds a clause before solving starts. Returns its index (used in conflict reports), or -1 for
   * a clause that is already satisfied or unit (units are assigned at once).
   */
  addClause(lits: readonly number[]): number {
    const c = [...new Set(lits)];
    for (const l of c) if (c.includes(l ^ 1)) return -1; // tautology
    if (c.length === 0) {
      this.ok = false;
      return -1;
    }
    if (c.length === 1) {
      const l = c[0] as number;
      const val = this.value(l);
      if (val === FALSE) this.ok = false;
      else if (val === UNSET) this.enqueue(l, -1);
      return -1;
    }
    return this.attach(c);
  }

  /**
   * Searches for an assignment. `decide` returns the next literal to make true (it must be
   * unassigned), or -1 when nothing is left to decide, which ends the search with success.
   * `onConflict` sees each conflicting clause index. Returns false when unsatisfiable.
   */
  solve(decide: () => number, onConflict?: (clause: number) => void): boolean {
    if (!this.ok) return false;
    for (;;) {
      const confl = this.propagate();
      if (confl >= 0) {
        this.conflicts++;
        onConflict?.(confl);
        if (this.trailLim.length === 0) {
          this.ok = false;
          return false;
        }
        const [learnt, level] = this.analyze(confl);
        this.cancelUntil(level);
        if (learnt.length === 1) {
          this.enqueue(learnt[0] as number, -1);
        } else {
          const ci = this.attach(learnt);
          this.enqueue(learnt[0] as number, ci);
        }
      } else {
        const lit = decide();
        if (lit < 0) return true;
        if (this.value(lit) !== UNSET) throw new Error(`decided an assigned literal ${lit}`);
        this.trailLim.push(this.trail.length);
        this.enqueue(lit, -1);
      }
    }
  }

  /** The literals of clause `ci` (watched ones first). */
  clauseLiterals(ci: number): readonly number[] {
    return this.clauses[ci] ?? [];
  }

  /** The clause that forced variable `v`'s current value, or -1 (decision, unit, unassigned). */
  reasonOf(v: number): number {
    return this.reasons[v] ?? -1;
  }

  /** True when the last solve() ended in a contradiction at level 0. */
  get unsatisfiable(): boolean {
    return !this.ok;
  }

  private attach(c: number[]): number {
    const ci = this.clauses.length;
    this.clauses.push(c);
    (this.watchers[c[0] as number] as number[]).push(ci);
    (this.watchers[c[1] as number] as number[]).push(ci);
    return ci;
  }

  private enqueue(lit: number, reason: number): void {
    const v = lit >> 1;
    this.assigns[v] = lit & 1 ? FALSE : TRUE;
    this.levels[v] = this.trailLim.length;
    this.reasons[v] = reason;
    this.trail.push(lit);
  }

  /** Unit propagation; returns a conflicting clause index or -1. */
  private propagate(): number {
    while (this.qhead < this.trail.length) {
      const falseLit = (this.trail[this.qhead++] as number) ^ 1;
      const ws = this.watchers[falseLit] as number[];
      let i = 0;
      let j = 0;
      while (i < ws.length) {
        const ci = ws[i++] as number;
        const c = this.clauses[ci] as number[];
        if (c[0] === falseLit) {
          c[0] = c[1] as number;
          c[1] = falseLit;
        }
        if (this.value(c[0] as number) === TRUE) {
          ws[j++] = ci;
          continue;
        }
        let moved = false;
        for (let k = 2; k < c.length; k++) {
          if (this.value(c[k] as number) !== FALSE) {
            c[1] = c[k] as number;
            c[k] = falseLit;
            (this.watchers[c[1]] as number[]).push(ci);
            moved = true;
            break;
          }
        }
        if (moved) continue;
        ws[j++] = ci;
        if (this.value(c[0] as number) === FALSE) {
          while (i < ws.length) ws[j++] = ws[i++] as number;
          ws.length = j;
          this.qhead = this.trail.length;
          return ci;
        }
        this.enqueue(c[0] as number, ci);
      }
      ws.length = j;
    }
    return -1;
  }

  /** First-UIP learning: the learnt clause (asserting literal first) and the level to go back to. */
  private analyze(confl: number): [number[], number] {
    const seen = new Uint8Array(this.assigns.length);
    const learnt: number[] = [-1];
    const current = this.trailLim.length;
    let pathC = 0;
    let p = -1;
    let idx = this.trail.length - 1;
    let ci = confl;
    do {
      const c = this.clauses[ci] as number[];
      for (let k = p === -1 ? 0 : 1; k < c.length; k++) {
        const q = c[k] as number;
        const v = q >> 1;
        if (seen[v] === 1 || this.levels[v] === 0) continue;
        seen[v] = 1;
        if (this.levels[v] === current) pathC++;
        else learnt.push(q);
      }
      while (seen[(this.trail[idx] as number) >> 1] === 0) idx--;
      p = this.trail[idx] as number;
      idx--;
      ci = this.reasons[p >> 1] as number;
      seen[p >> 1] = 0;
      pathC--;
    } while (pathC > 0);
    learnt[0] = p ^ 1;
    let level = 0;
    let at = 1;
    for (let k = 1; k < learnt.length; k++) {
      const l = this.levels[(learnt[k] as number) >> 1] as number;
      if (l > level) {
        level = l;
        at = k;
      }
    }
    if (learnt.length > 1) {
      const t = learnt[1] as number;
      learnt[1] = learnt[at] as number;
      learnt[at] = t;
    }
    return [learnt, level];
  }

  private cancelUntil(level: number): void {
    if (this.trailLim.length <= level) return;
    const stop = this.trailLim[level] as number;
    for (let i = this.trail.length - 1; i >= stop; i--) {
      const v = (this.trail[i] as number) >> 1;
      this.assigns[v] = UNSET;
      this.reasons[v] = -1;
    }
    this.trail.length = stop;
    this.trailLim.length = level;
    this.qhead = stop;
    this.onBackjump?.(stop);
  }

  /** Called after a backjump with the new trail length, so callers can reset their cursors. */
  onBackjump: ((trailLength: number) => void) | undefined;
}
