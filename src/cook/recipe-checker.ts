/**
 * The recipe's accessors on top of cake's strict YAML checker (model/yaml-check.ts, shared with
 * distro definitions): guest paths, modes, host paths and references to other envs or recipes.
 * Like it, they record a problem (with line and key path) instead of throwing.
 */
import { resolve } from 'node:path';
import { isScalar, isSeq, type LineCounter, type Scalar } from 'yaml';
import { isEnvName } from '../model/names.js';
import { normalizeGuestPath } from '../model/run-options.js';
import { YamlChecker, type YamlNode } from '../model/yaml-check.js';
import type { Located, OtherRef } from './recipe-types.js';

export { sub } from '../model/yaml-check.js';

const RECIPE_FILE = /\.ya?ml$/;

export type Node = YamlNode;

export class RecipeChecker extends YamlChecker {
  constructor(display: string, lc: LineCounter, readonly dir: string) {
    super(display, lc);
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

  hostPath(text: string): string {
    return resolve(this.dir, text);
  }

  other(text: string, node: Node, path: string): OtherRef | undefined {
    if (RECIPE_FILE.test(text)) return { kind: 'recipe', file: this.hostPath(text) };
    if (isEnvName(text)) return { kind: 'env', name: text };
    return this.fail(node, path, `${JSON.stringify(text)} is neither an env name nor a recipe file (*.yaml)`);
  }
}
