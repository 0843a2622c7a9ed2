/**
 * The YAML syntax-tree walker behind the recipe parser: typed accessors that record a problem
 * (with line and key path) instead of throwing, so that all problems are found in one pass.
 */
import { resolve } from 'node:path';
import { isMap, isScalar, isSeq, type LineCounter, type Scalar, type YAMLMap } from 'yaml';
import { isEnvName } from '../model/names.js';
import { normalizeGuestPath } from '../model/run-options.js';
import type { At, Located, OtherRef, Problem } from './recipe-types.js';

const RECIPE_FILE = /\.ya?ml$/;

export type Node = unknown;

export class Checker {
  readonly problems: Problem[] = [];
  constructor(readonly display: string, readonly lc: LineCounter, readonly dir: string) {}

  at(node: Node, path: string): At {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return { file: this.display, line: range ? this.lc.linePos(range[0]).line : 1, path: path || '(top)' };
  }

  fail(node: Node, path: string, message: string): undefined {
    this.problems.push({ at: this.at(node, path), message });
    return undefined;
  }

  /** The string-keyed pairs of a mapping; other keys are problems. */
  pairs(node: YAMLMap, path: string): [string, Node, Node][] {
    const out: [string, Node, Node][] = [];
    for (const p of node.items) {
      const k = isScalar(p.key) ? p.key.value : undefined;
      if (typeof k === 'string') out.push([k, p.value, p.key]);
      else this.fail(p.key, path, `expected string keys, found ${JSON.stringify(isScalar(p.key) ? (p.key.source ?? String(k)) : String(k))}`);
    }
    return out;
  }

  /** A mapping restricted to `allowed` keys, with `required` ones present. */
  map(node: Node, path: string, allowed: readonly string[], required: readonly string[] = []): Map<string, Node> | undefined {
    if (!isMap(node)) return this.fail(node, path, 'expected a mapping');
    const fields = new Map<string, Node>();
    for (const [k, v, keyNode] of this.pairs(node, path)) {
      if (allowed.includes(k)) fields.set(k, v);
      else this.fail(keyNode, sub(path, k), `unknown key (expected one of: ${allowed.join(', ')})`);
    }
    for (const k of required) if (!fields.has(k)) this.fail(node, sub(path, k), 'missing');
    return fields;
  }

  str(node: Node, path: string, opts: { nonEmpty?: boolean; scalars?: boolean } = {}): string | undefined {
    if (isScalar(node) && typeof node.value === 'string') {
      if (opts.nonEmpty && node.value.trim() === '') return this.fail(node, path, 'expected a non-empty string');
      return node.value;
    }
    if (opts.scalars && isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean')) {
      return (node as Scalar).source ?? String(node.value);
    }
    const hint = isScalar(node) && node.value !== null && typeof node.value !== 'object' ? ` (quote it: "${(node as Scalar).source ?? String(node.value)}")` : '';
    return this.fail(node, path, `expected a string${hint}`);
  }

  /** A string or a list of strings (one or more). */
  strs(node: Node, path: string): Located<string>[] | undefined {
    if (isSeq(node)) {
      if (node.items.length === 0) return this.fail(node, path, 'expected a string or a non-empty list of strings');
      const out: Located<string>[] = [];
      node.items.forEach((item, i) => {
        const v = this.str(item, `${path}[${i}]`, { nonEmpty: true });
        if (v !== undefined) out.push({ value: v, at: this.at(item, `${path}[${i}]`) });
      });
      return out.length === node.items.length ? out : undefined;
    }
    const v = this.str(node, path, { nonEmpty: true });
    return v === undefined ? undefined : [{ value: v, at: this.at(node, path) }];
  }

  guestPath(node: Node, path: string): string | undefined {
    const v = this.str(node, path, { nonEmpty: true });
    if (v === undefined) return undefined;
    if (!v.startsWith('/') || v.includes('\0')) return this.fail(node, path, `expected an absolute path in the env, found ${JSON.stringify(v)}`);
    return v.endsWith('/') && v !== '/' ? normalizeGuestPath(v) + '/' : normalizeGuestPath(v);
  }

  /** `0644`, `"0644"`, `0o644` or `"u=rw..."`-free octal modes only. */
  mode(node: Node, path: string): number | undefined {
    const text = isScalar(node) ? String((node as Scalar).source ?? node.value) : undefined;
    const m = text === undefined ? null : /^(?:0o?)?([0-7]{3,4})$/.exec(text);
    if (!m) return this.fail(node, path, 'expected an octal mode such as "0644"');
    return parseInt(m[1]!, 8);
  }

  int(node: Node, path: string, max: number): number | undefined {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) return this.fail(node, path, `expected an integer from 0 to ${max}`);
    return v;
  }

  hostPath(text: string): string {
    return resolve(this.dir, text);
  }

  other(text: string, node: Node, path: string): OtherRef | undefined {
    if (RECIPE_FILE.test(text)) return { kind: 'recipe', file: this.hostPath(text) };
    if (isEnvName(text)) return { kind: 'env', name: text };
    return this.fail(node, path, `${JSON.stringify(text)} is neither an env name nor a recipe file (*.yaml)`);
  }
}

/** `steps` + 2 → `steps[2]`; `env` + `PATH` → `env.PATH`. */
export function sub(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

