/**
 * Dependency fields (Depends, Pre-Depends, Recommends, Conflicts, Breaks, Provides, Replaces),
 * Policy §7.1: ',' is AND, '|' is OR, `(op version)`, `name:arch` qualifiers, and the
 * source-package restrictions `[arch ...]` and `<profile ...>`. Pure, no I/O.
 */
import { CakeError } from '../model/errors.js';
import type { VersionOp } from './version.js';

export type { VersionOp } from './version.js';

/** One possibility of a dependency: a package name, optionally qualified and versioned. */
export interface Relation {
  name: string;
  /** The `:arch` qualifier as written: 'any', 'native' or an architecture name. */
  arch?: string;
  op?: VersionOp;
  version?: string;
}

/** An OR group: satisfied when any of its relations is. */
export type Alternatives = Relation[];

export interface RelationOptions {
  /**
   * The host architecture used to evaluate `[arch ...]` restrictions. Without it restrictions
   * are dropped and the relation kept (binary indices carry none).
   */
  arch?: string;
  /** Active build profiles for `<profile ...>` restrictions; none by default. */
  profiles?: readonly string[];
}

const NO_PROFILES: readonly string[] = [];

/**
 * Parses a dependency field into AND-ed OR groups. Empty groups (`a, , b`, a trailing comma)
 * are tolerated and skipped. Relations whose `[arch]`/`<profile>` restriction excludes them are
 * dropped, and a group left empty by that is dropped too. The obsolete operators `<` and `>`
 * are read as `<=` and `>=`, as dpkg does.
 * Throws CakeError('bad-archive') naming the field for malformed input.
 */
export function parseRelations(field: string, options: RelationOptions = {}): Alternatives[] {
  return new Scanner(field, options).field();
}

/**
 * Parses a Provides field: like {@link parseRelations} but without OR groups, and only `=`
 * (Policy §7.5). Throws CakeError('bad-archive') otherwise.
 */
export function parseProvides(field: string): Relation[] {
  const out: Relation[] = [];
  for (const group of parseRelations(field)) {
    if (group.length !== 1) throw malformed(field, "'|' is not allowed in Provides");
    const rel = group[0] as Relation;
    if (rel.op !== undefined && rel.op !== '=') {
      throw malformed(field, `only '=' is allowed in Provides, not '${rel.op}'`);
    }
    out.push(rel);
  }
  return out;
}

/** Renders a relation the way Debian writes it: `name:arch (op version)`. */
export function formatRelation(rel: Relation): string {
  const name = rel.arch === undefined ? rel.name : `${rel.name}:${rel.arch}`;
  return rel.op === undefined ? name : `${name} (${rel.op} ${rel.version ?? ''})`;
}

/** Renders an OR group: `a (>= 1) | b`. */
export function formatAlternatives(group: Alternatives): string {
  return group.map(formatRelation).join(' | ');
}

function malformed(field: string, why: string): CakeError {
  const shown = field.length > 200 ? `${field.slice(0, 200)}…` : field;
  return new CakeError('bad-archive', `malformed dependency field '${shown}': ${why}`);
}

function isNameChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || // a-z
    (c >= 48 && c <= 57) || // 0-9
    (c >= 65 && c <= 90) || // A-Z (not in Policy, but seen in old archives)
    c === 43 || // +
    c === 45 || // -
    c === 46 // .
  );
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

class Scanner {
  private i = 0;
  private readonly s: string;
  private readonly n: number;

  constructor(
    s: string,
    private readonly options: RelationOptions,
  ) {
    this.s = s;
    this.n = s.length;
  }

  field(): Alternatives[] {
    const groups: Alternatives[] = [];
    this.ws();
    while (this.i < this.n) {
      if (this.peek() === 44 /* , */) {
        this.i++;
        this.ws();
        continue;
      }
      const group: Alternatives = [];
      for (;;) {
        const rel = this.relation();
        if (rel !== null) group.push(rel);
        this.ws();
        if (this.i >= this.n) break;
        const c = this.peek();
        if (c === 124 /* | */) {
          this.i++;
          this.ws();
          continue;
        }
        if (c === 44) break;
        throw this.fail(`unexpected '${this.s[this.i]}'`);
      }
      if (group.length > 0) groups.push(group);
    }
    return groups;
  }

  /** One relation, or null when its restrictions exclude it. */
  private relation(): Relation | null {
    const name = this.word(isNameChar, 'package name');
    const rel: Relation = { name };
    if (this.peek() === 58 /* : */) {
      this.i++;
      rel.arch = this.word(isNameChar, 'architecture qualifier');
    }
    this.ws();
    if (this.peek() === 40 /* ( */) {
      this.i++;
      this.ws();
      rel.op = this.op();
      this.ws();
      const start = this.i;
      while (this.i < this.n && !isSpace(this.peek()) && this.peek() !== 41 /* ) */) this.i++;
      if (this.i === start) throw this.fail(`missing version after '${rel.op}'`);
      rel.version = this.s.slice(start, this.i);
      this.ws();
      if (this.peek() !== 41) throw this.fail("missing ')'");
      this.i++;
      this.ws();
    }
    let archOk = true;
    if (this.peek() === 91 /* [ */) {
      archOk = this.archRestriction();
      this.ws();
    }
    // Several <...> lists are OR-ed; the terms inside one are AND-ed.
    const lists: string[][] = [];
    while (this.peek() === 60 /* < */) {
      this.i++;
      lists.push(this.list(62 /* > */, 'build profile restriction'));
      this.ws();
    }
    const active = this.options.profiles ?? NO_PROFILES;
    const profileOk =
      lists.length === 0 ||
      lists.some((terms) =>
        terms.every((t) => (t.startsWith('!') ? !active.includes(t.slice(1)) : active.includes(t))),
      );
    return archOk && profileOk ? rel : null;
  }

  /** Evaluates `[arch ...]` against the host; true when there is no host to evaluate against. */
  private archRestriction(): boolean {
    this.i++; // [
    const tokens = this.list(93 /* ] */, 'architecture restriction');
    const host = this.options.arch;
    if (host === undefined) return true;
    const negated = tokens.filter((t) => t.startsWith('!'));
    if (negated.length > 0 && negated.length !== tokens.length) {
      throw this.fail('mixed negated and plain architectures');
    }
    return negated.length > 0
      ? !negated.some((t) => archMatches(t.slice(1), host))
      : tokens.some((t) => archMatches(t, host));
  }

  private list(close: number, what: string): string[] {
    const tokens: string[] = [];
    for (;;) {
      this.ws();
      if (this.i >= this.n) throw this.fail(`unterminated ${what}`);
      if (this.peek() === close) {
        this.i++;
        break;
      }
      const start = this.i;
      if (this.peek() === 33 /* ! */) this.i++;
      while (this.i < this.n && (isNameChar(this.peek()) || this.peek() === 95)) this.i++;
      if (this.i === start || (this.i === start + 1 && this.s.charCodeAt(start) === 33)) {
        throw this.fail(`bad ${what}`);
      }
      tokens.push(this.s.slice(start, this.i));
    }
    if (tokens.length === 0) throw this.fail(`empty ${what}`);
    return tokens;
  }

  private op(): Relation['op'] {
    const c = this.peek();
    const d = this.i + 1 < this.n ? this.s.charCodeAt(this.i + 1) : 0;
    if (c === 60 /* < */) {
      this.i += d === 60 || d === 61 ? 2 : 1;
      return d === 60 ? '<<' : '<=';
    }
    if (c === 62 /* > */) {
      this.i += d === 62 || d === 61 ? 2 : 1;
      return d === 62 ? '>>' : '>=';
    }
    if (c === 61 /* = */) {
      this.i++;
      return '=';
    }
    throw this.fail('expected a version operator (<< <= = >= >>)');
  }

  private word(ok: (c: number) => boolean, what: string): string {
    const start = this.i;
    while (this.i < this.n && ok(this.s.charCodeAt(this.i))) this.i++;
    if (this.i === start) {
      throw this.fail(this.i >= this.n ? `missing ${what}` : `bad ${what} at '${this.s[this.i]}'`);
    }
    return this.s.slice(start, this.i);
  }

  private peek(): number {
    return this.i < this.n ? this.s.charCodeAt(this.i) : -1;
  }

  private ws(): void {
    while (this.i < this.n && isSpace(this.s.charCodeAt(this.i))) this.i++;
  }

  private fail(why: string): CakeError {
    return malformed(this.s, `${why} (column ${this.i + 1})`);
  }
}

/**
 * Whether an architecture token of a restriction list (`amd64`, `any`, `linux-any`,
 * `any-arm64`) matches the host. Plain Debian names are Linux ones (`amd64` is linux-amd64);
 * others carry their OS first (`hurd-i386`, `kfreebsd-amd64`).
 */
export function archMatches(token: string, host: string): boolean {
  if (token === host || token === 'any') return true;
  const dash = token.indexOf('-');
  if (dash < 0) return false;
  const [os, cpu] = splitArch(host);
  const tOs = token.slice(0, dash);
  const tCpu = token.slice(dash + 1);
  return (tOs === 'any' || tOs === os) && (tCpu === 'any' || tCpu === cpu);
}

function splitArch(arch: string): [string, string] {
  const dash = arch.indexOf('-');
  return dash < 0 ? ['linux', arch] : [arch.slice(0, dash), arch.slice(dash + 1)];
}
