/**
 * cake's one strict-YAML checker, behind distro definitions (distro-check.ts) and recipes
 * (cook/recipe-checker.ts adds the recipe's own accessors). It walks the YAML syntax tree so that
 * every problem carries its file, line and key path, and records problems instead of throwing, so
 * that all of a file's problems are found in one pass. Messages say what was expected:
 * `web.yaml:6 steps[1].run: expected a string (quote it: "5")`.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Scalar, type YAMLMap } from 'yaml';

/** Where something is written: for messages `web.yaml:12 steps[2].run: ...`. */
export interface YamlAt {
  /** The file as shown to the user. */
  file: string;
  line: number;
  /** Key path, e.g. `steps[2].run` or `releases["3.22"].sources[0]`. */
  path: string;
}

/** One problem in a YAML file. */
export interface YamlProblem {
  at: YamlAt;
  message: string;
  /** What to do, when the problem has its own advice (shown when it is the only problem). */
  hint?: string;
}

/** A node of the YAML syntax tree, or undefined for an absent key. */
export type YamlNode = unknown;

export function formatYamlProblem(p: YamlProblem): string {
  return `${p.at.file}:${p.at.line} ${p.at.path}: ${p.message}`;
}

/** `steps` + 2 → `steps[2]`; `env` + `PATH` → `env.PATH`; `releases` + `3.22` → `releases["3.22"]`. */
export function sub(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** How a scalar was written, for a "(quote it: …)" hint. */
function written(node: Scalar): string {
  return node.source ?? String(node.value);
}

export class YamlChecker {
  readonly problems: YamlProblem[] = [];
  constructor(readonly display: string, readonly lc: LineCounter) {}

  at(node: YamlNode, path: string): YamlAt {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return { file: this.display, line: range ? this.lc.linePos(range[0]).line : 1, path: path || '(top)' };
  }

  /** Records a problem. An absent node (undefined) was already reported as missing by map(). */
  fail(node: YamlNode, path: string, message: string): undefined {
    if (node !== undefined) this.problems.push({ at: this.at(node, path), message });
    return undefined;
  }

  /** Records the document's YAML syntax errors and warnings; true when there were any. */
  syntax(doc: Document): boolean {
    for (const e of [...doc.errors, ...doc.warnings]) {
      this.problems.push({ at: { file: this.display, line: this.lc.linePos(e.pos[0]).line, path: '(yaml)' }, message: e.message.split('\n')[0]! });
    }
    return doc.errors.length + doc.warnings.length > 0;
  }

  /** The string-keyed pairs of a mapping (value, then key node); other keys are problems. */
  pairs(node: YAMLMap, path: string): [string, YamlNode, YamlNode][] {
    const out: [string, YamlNode, YamlNode][] = [];
    for (const p of node.items) {
      const k = isScalar(p.key) ? p.key.value : undefined;
      if (typeof k === 'string') out.push([k, p.value, p.key]);
      else this.fail(p.key, path, `expected a string key (quote it: "${isScalar(p.key) ? written(p.key) : String(k)}")`);
    }
    return out;
  }

  /** A mapping restricted to `allowed` keys, with `required` ones present; its fields by key. */
  map(node: YamlNode, path: string, allowed: readonly string[], required: readonly string[] = []): Map<string, YamlNode> | undefined {
    if (!isMap(node)) return this.fail(node, path, 'expected a mapping');
    const fields = new Map<string, YamlNode>();
    for (const [k, v, keyNode] of this.pairs(node, path)) {
      if (allowed.includes(k)) fields.set(k, v);
      else this.fail(keyNode, sub(path, k), `unknown key (expected one of: ${allowed.join(', ')})`);
    }
    for (const k of required) if (!fields.has(k)) this.fail(node, sub(path, k), 'missing');
    return fields;
  }

  /**
   * A string. `nonEmpty` refuses a blank one; `scalars` accepts a number or boolean as written;
   * `pattern` refuses one that does not match, as an invalid `what`.
   */
  str(node: YamlNode, path: string, opts: { nonEmpty?: boolean; scalars?: boolean; pattern?: RegExp; what?: string } = {}): string | undefined {
    if (isScalar(node) && typeof node.value === 'string') {
      if (opts.nonEmpty && node.value.trim() === '') return this.fail(node, path, 'expected a non-empty string');
      if (opts.pattern && !opts.pattern.test(node.value)) return this.fail(node, path, `invalid ${opts.what ?? 'value'} ${JSON.stringify(node.value)}`);
      return node.value;
    }
    if (opts.scalars && isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean')) return written(node);
    const hint = isScalar(node) && node.value !== null && typeof node.value !== 'object' ? ` (quote it: "${written(node)}")` : '';
    return this.fail(node, path, `expected a string${hint}`);
  }

  /** A list of strings, each checked as str() does; non-empty unless `nonEmpty` is false. */
  strList(node: YamlNode, path: string, opts: { pattern?: RegExp; what?: string; nonEmpty?: boolean } = {}): string[] | undefined {
    if (!isSeq(node)) return this.fail(node, path, 'expected a list');
    if (opts.nonEmpty !== false && node.items.length === 0) return this.fail(node, path, 'expected a non-empty list');
    const out = node.items.map((item, i) => this.str(item, `${path}[${i}]`, opts));
    return out.every((s): s is string => s !== undefined) ? out : undefined;
  }

  /** One of `values`. */
  oneOf<T extends string>(node: YamlNode, path: string, values: readonly T[]): T | undefined {
    const v = this.str(node, path, { nonEmpty: true });
    if (v === undefined) return undefined;
    return (values as readonly string[]).includes(v) ? (v as T) : this.fail(node, path, `expected one of: ${values.join(', ')}`);
  }

  /** An integer from 0 to `max`. */
  int(node: YamlNode, path: string, max: number): number | undefined {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) return this.fail(node, path, `expected an integer from 0 to ${max}`);
    return v;
  }

  /** An absolute URL with one of `schemes` (`https:`), a host, and no fragment or user. */
  url(node: YamlNode, path: string, schemes: readonly string[]): string | undefined {
    const v = this.str(node, path);
    if (v === undefined) return undefined;
    let u: URL | undefined;
    try {
      u = new URL(v);
    } catch {
      u = undefined;
    }
    if (!u || !schemes.includes(u.protocol) || u.hostname === '' || u.hash !== '' || u.username !== '') {
      return this.fail(node, path, `expected a plain ${schemes.map((s) => s.replace(':', '')).join(' or ')} URL`);
    }
    return v;
  }
}
