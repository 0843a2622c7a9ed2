/**
 * The strict recipe parser. Walks the YAML syntax tree (positions from a LineCounter) so that
 * every problem names its file, line and key path, and collects all of them rather than stopping
 * at the first. Pure: no file is read here (existence checks are in recipe-load.ts).
 */
import { dirname } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { CakeError } from '../model/errors.js';
import { isEnvName, VARIANTS } from '../model/names.js';
import { parseSource } from '../model/source.js';
import { parseBind, normalizeGuestPath } from '../model/run-options.js';
import { RecipeChecker as Checker, sub, type Node } from './recipe-checker.js';
import { confine } from './host-reads.js';
import { parseImage } from './recipe-image.js';
import type { AddFrom, FromRef, Located, Problem, PullOptions, Recipe, Step, StepKind } from './recipe-types.js';
import { STEP_KINDS } from './recipe-types.js';

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}\$?$/;
const HEX64 = /^(sha256:)?[0-9a-f]{64}$/;
const RECIPE_FILE = /\.ya?ml$/;
const STORE_PATH = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+(\/.*)?$/;

/** The keys each step kind allows besides its own. */
const STEP_KEYS: Record<StepKind, readonly string[]> = {
  run: ['cwd'],
  copy: ['to', 'mode'],
  add: [],
  env: [],
  path: [],
  file: ['content', 'mode'],
  user: [],
  bind: [],
};

/** A package request as `cake pull --packages` takes it (name, optional :arch, and =version or /suite). */
const PACKAGE = /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+|\/[a-z0-9][a-z0-9.+-]*)?$/;

/**
 * `from: SOURCE`, or the mapping `from: { source: SOURCE, packages: [...], variant: V,
 * recommends: BOOL, allow_expired: BOOL }` for a Debian/Ubuntu release built from the archive with
 * the options of `cake pull` (`allow_expired` is `--allow-expired`).
 */
function parseFrom(c: Checker, node: Node): FromRef | undefined {
  if (!isMap(node)) return parseFromText(c, node, 'from');
  const f = c.map(node, 'from', ['source', 'packages', 'variant', 'recommends', 'allow_expired'], ['source']);
  if (!f) return undefined;
  const pull: PullOptions = {};
  if (f.has('packages')) {
    const list = c.strs(f.get('packages'), 'from.packages') ?? [];
    for (const p of list) if (!PACKAGE.test(p.value)) c.fail(f.get('packages'), p.at.path, `expected a Debian package name (optionally :ARCH, and =VERSION or /SUITE), found ${JSON.stringify(p.value)}`);
    pull.packages = [...new Set(list.map((p) => p.value))];
  }
  if (f.has('variant')) {
    const v = c.oneOf(f.get('variant'), 'from.variant', VARIANTS);
    if (v !== undefined) pull.variant = v;
  }
  if (f.has('recommends')) {
    const r = f.get('recommends');
    if (isScalar(r) && typeof r.value === 'boolean') pull.recommends = r.value;
    else c.fail(r, 'from.recommends', 'expected true or false');
  }
  if (f.has('allow_expired')) {
    const a = f.get('allow_expired');
    if (isScalar(a) && typeof a.value === 'boolean') {
      if (a.value) pull.allowExpired = true;
    } else c.fail(a, 'from.allow_expired', 'expected true or false');
  }
  if (!f.has('source')) return undefined;
  const ref = parseFromText(c, f.get('source'), 'from.source');
  if (!ref) return undefined;
  if (ref.kind !== 'source' || ref.source.kind !== 'distro') {
    return c.fail(f.get('source'), 'from.source', 'packages, variant, recommends and allow_expired apply to a Debian or Ubuntu release (such as debian:bookworm); write other bases as from: SOURCE');
  }
  return Object.keys(pull).length > 0 ? { ...ref, pull } : ref;
}

function parseFromText(c: Checker, node: Node, key: string): FromRef | undefined {
  const text = c.str(node, key, { nonEmpty: true });
  if (text === undefined) return undefined;
  if (text.startsWith('env:')) {
    const name = text.slice(4);
    return isEnvName(name) ? { kind: 'env', name } : c.fail(node, key, `invalid env name ${JSON.stringify(name)}`);
  }
  if (RECIPE_FILE.test(text) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return { kind: 'recipe', file: c.hostPath(text) };
  try {
    const source = parseSource(text);
    // A local tarball is relative to the recipe, not to where cake runs.
    if (source.kind === 'file' && !source.path.startsWith('~')) return { kind: 'source', text, source: { ...source, path: c.hostPath(source.path) } };
    return { kind: 'source', text, source };
  } catch (err) {
    return c.fail(node, key, err instanceof CakeError ? err.message : String(err));
  }
}

function parseAddFrom(c: Checker, item: Located<string>, node: Node): AddFrom | undefined {
  const sep = item.value.indexOf(':/');
  if (sep <= 0) return c.fail(node, item.at.path, `expected OTHER:/PATH (an env or recipe, then an absolute path), found ${JSON.stringify(item.value)}`);
  const other = c.other(item.value.slice(0, sep), node, item.at.path);
  if (!other) return undefined;
  return { text: item.value, other, path: normalizeGuestPath(item.value.slice(sep + 1)), at: item.at };
}

function parseAdd(c: Checker, node: Node, path: string): Omit<Extract<Step, { kind: 'add' }>, 'at' | 'kind'> | undefined {
  const out = { from: [] as AddFrom[], nix: [] as Located<string>[], host: [] as Located<string>[] };
  if (isMap(node)) {
    const f = c.map(node, path, ['from', 'nix', 'host']);
    if (!f) return undefined;
    if (f.size === 0) return c.fail(node, path, 'expected at least one of from, nix, host');
    const items = (key: string) => (f.has(key) ? c.strs(f.get(key), sub(path, key)) ?? [] : []);
    for (const it of items('from')) {
      const a = parseAddFrom(c, it, f.get('from'));
      if (a) out.from.push(a);
    }
    out.nix = items('nix');
    out.host = items('host').map((h) => ({ ...h, value: c.hostPath(h.value) }));
    return out;
  }
  const list = c.strs(node, path);
  if (!list) return undefined;
  for (const it of list) {
    if (STORE_PATH.test(it.value)) out.nix.push(it);
    else {
      const a = parseAddFrom(c, it, node);
      if (a) out.from.push(a);
    }
  }
  return out;
}

function parseUser(c: Checker, node: Node, path: string): Omit<Extract<Step, { kind: 'user' }>, 'at' | 'kind'> | undefined {
  if (!isMap(node)) {
    const name = c.str(node, path, { nonEmpty: true });
    if (name === undefined) return undefined;
    return USER_NAME.test(name) ? { name, groups: [] } : c.fail(node, path, `invalid user name ${JSON.stringify(name)}`);
  }
  const f = c.map(node, path, ['name', 'uid', 'gid', 'home', 'shell', 'groups'], ['name']);
  if (!f) return undefined;
  const name = f.has('name') ? c.str(f.get('name'), sub(path, 'name'), { nonEmpty: true }) : undefined;
  if (name !== undefined && !USER_NAME.test(name)) c.fail(f.get('name'), sub(path, 'name'), `invalid user name ${JSON.stringify(name)}`);
  const uid = f.has('uid') ? c.int(f.get('uid'), sub(path, 'uid'), 0xfffffffe) : undefined;
  const gid = f.has('gid') ? c.int(f.get('gid'), sub(path, 'gid'), 0xfffffffe) : undefined;
  const home = f.has('home') ? c.guestPath(f.get('home'), sub(path, 'home')) : undefined;
  const shell = f.has('shell') ? c.guestPath(f.get('shell'), sub(path, 'shell')) : undefined;
  const groups = f.has('groups') ? (c.strs(f.get('groups'), sub(path, 'groups')) ?? []).map((g) => g.value) : [];
  for (const g of groups) if (!USER_NAME.test(g)) c.fail(f.get('groups'), sub(path, 'groups'), `invalid group name ${JSON.stringify(g)}`);
  if (name === undefined) return undefined;
  return { name, groups, ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}), ...(home ? { home } : {}), ...(shell ? { shell } : {}) };
}

function parseStep(c: Checker, node: Node, path: string): Step | undefined {
  if (!isMap(node)) return c.fail(node, path, `expected a mapping with one of: ${STEP_KINDS.join(', ')}`);
  const keys = c.pairs(node, path).map(([k]) => k);
  const kinds = keys.filter((k): k is StepKind => (STEP_KINDS as readonly string[]).includes(k));
  if (kinds.length === 0) return c.fail(node, path, `a step needs one of: ${STEP_KINDS.join(', ')} (found ${keys.join(', ') || 'nothing'})`);
  if (kinds.length > 1) return c.fail(node, path, `a step has one kind, found ${kinds.join(' and ')}; write them as separate steps`);
  const kind = kinds[0]!;
  const f = c.map(node, path, [kind, ...STEP_KEYS[kind]], kind === 'copy' ? ['to'] : kind === 'file' ? ['content'] : []);
  if (!f) return undefined;
  const v = f.get(kind);
  const kp = sub(path, kind);
  const at = c.at(v ?? node, kp);
  const before = c.problems.length;
  let step: Step | undefined;
  switch (kind) {
    case 'run': {
      const script = c.str(v, kp, { nonEmpty: true });
      const cwd = f.has('cwd') ? c.guestPath(f.get('cwd'), sub(path, 'cwd')) : undefined;
      if (script !== undefined) step = { kind, at, script, ...(cwd ? { cwd } : {}) };
      break;
    }
    case 'copy': {
      const sources = c.strs(v, kp)?.map((s) => ({ ...s, value: c.hostPath(s.value) }));
      const to = f.has('to') ? c.guestPath(f.get('to'), sub(path, 'to')) : undefined;
      const mode = f.has('mode') ? c.mode(f.get('mode'), sub(path, 'mode')) : undefined;
      if (sources && to) step = { kind, at, sources, to, ...(mode !== undefined ? { mode } : {}) };
      break;
    }
    case 'add': {
      const a = parseAdd(c, v, kp);
      if (a) step = { kind, at, ...a };
      break;
    }
    case 'env': {
      if (!isMap(v)) {
        c.fail(v, kp, 'expected a mapping of NAME: value');
        break;
      }
      const vars: [string, string][] = [];
      for (const [k, val, keyNode] of c.pairs(v, kp)) {
        if (!VAR_NAME.test(k)) c.fail(keyNode, sub(kp, k), 'expected a variable name (letters, digits, _)');
        const s = c.str(val, sub(kp, k), { scalars: true });
        if (s !== undefined) vars.push([k, s]);
      }
      step = { kind, at, vars };
      break;
    }
    case 'path': {
      const dirs = c.strs(v, kp);
      for (const d of dirs ?? []) if (!d.value.startsWith('/') || d.value.includes(':')) c.fail(v, d.at.path, `expected an absolute directory without ':', found ${JSON.stringify(d.value)}`);
      if (dirs) step = { kind, at, dirs: dirs.map((d) => normalizeGuestPath(d.value)) };
      break;
    }
    case 'file': {
      const p = c.guestPath(v, kp);
      if (p?.endsWith('/')) c.fail(v, kp, 'expected a file path, not a directory');
      const content = f.has('content') ? c.str(f.get('content'), sub(path, 'content')) : undefined;
      const mode = f.has('mode') ? c.mode(f.get('mode'), sub(path, 'mode')) : 0o644;
      if (p !== undefined && content !== undefined && mode !== undefined) step = { kind, at, path: p, content, mode };
      break;
    }
    case 'user': {
      const u = parseUser(c, v, kp);
      if (u) step = { kind, at, ...u };
      break;
    }
    case 'bind': {
      const list = c.strs(v, kp) ?? [];
      const binds = [];
      for (const b of list) {
        try {
          const parsed = parseBind(b.value);
          const src = c.hostPath(parsed.src);
          binds.push({ src, dst: parsed.dst === parsed.src ? src : parsed.dst });
        } catch (err) {
          c.fail(v, b.at.path, (err as Error).message.replace(/^invalid --bind/, 'invalid bind'));
        }
      }
      if (binds.length === list.length && list.length > 0) step = { kind, at, binds };
      break;
    }
  }
  return c.problems.length === before ? step : undefined;
}

/**
 * Parses recipe text. `file` is the recipe's absolute path (relative paths in it are relative to
 * its directory), `display` how messages name it. Returns the recipe when there is no problem;
 * otherwise the problems, sorted by line, and what did parse as `partial`.
 */
export function parseRecipe(text: string, file: string, display: string): { recipe?: Recipe; partial?: Recipe; problems: Problem[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const c = new Checker(display, lc, dirname(file));
  if (c.syntax(doc)) return { problems: c.problems };
  const f = c.map(doc.contents, '', ['name', 'from', 'steps', 'expect_sha256', 'host_paths', 'image'], ['from']);
  if (!f) return { problems: c.problems };
  const name = f.has('name') ? c.str(f.get('name'), 'name', { nonEmpty: true }) : undefined;
  if (name !== undefined && !isEnvName(name)) c.fail(f.get('name'), 'name', 'expected an env name: 1-63 of a-z, 0-9, ".", "_", "-", starting with a letter or digit');
  const from = f.has('from') ? parseFrom(c, f.get('from')) : undefined;
  const steps: Step[] = [];
  const sn = f.get('steps');
  if (f.has('steps') && !(isScalar(sn) && sn.value === null)) {
    if (!isSeq(sn)) c.fail(sn, 'steps', 'expected a list of steps');
    else sn.items.forEach((item, i) => {
      const s = parseStep(c, item, `steps[${i}]`);
      if (s) steps.push(s);
    });
  }
  let expectSha256: string | undefined;
  if (f.has('expect_sha256')) {
    const e = c.str(f.get('expect_sha256'), 'expect_sha256', { scalars: true });
    if (e !== undefined && !HEX64.test(e)) c.fail(f.get('expect_sha256'), 'expect_sha256', 'expected 64 lowercase hex digits (optionally "sha256:" first)');
    else if (e !== undefined) expectSha256 = e.replace(/^sha256:/, '');
  }
  const hostPaths = f.has('host_paths') ? (c.strs(f.get('host_paths'), 'host_paths') ?? []).map((h) => ({ ...h, value: c.hostPath(h.value) })) : [];
  const image = f.has('image') ? parseImage(c, f.get('image')) : undefined;
  confine(c, dirname(file), hostPaths.map((h) => h.value), steps, image);
  const problems = c.problems.sort((a, b) => a.at.line - b.at.line);
  if (!from) return { problems };
  const recipe: Recipe = { file, display, from, fromAt: c.at(f.get('from'), 'from'), steps };
  if (hostPaths.length > 0) recipe.hostPaths = hostPaths;
  if (image) recipe.image = image;
  if (name !== undefined) recipe.name = name;
  if (expectSha256 !== undefined) {
    recipe.expectSha256 = expectSha256;
    recipe.expectAt = c.at(f.get('expect_sha256'), 'expect_sha256');
  }
  // With problems, the recipe holds what parsed (for checking its references), and must not be cooked.
  return problems.length > 0 ? { partial: recipe, problems } : { recipe, problems };
}
