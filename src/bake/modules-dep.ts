/**
 * The module database of one kernel release, in depmod(8)'s text formats — modules.dep,
 * modules.softdep, modules.alias, modules.builtin — and the load order of a set of modules
 * computed from it (never from a running machine). Pure, no I/O.
 *
 * modules.dep lines are `path: dep-path dep-path …` (paths relative to /lib/modules/RELEASE);
 * depmod lists the transitive dependencies, but the order here is computed from the graph, so a
 * file listing only direct dependencies orders the same way.
 */
import { CakeError } from '../model/errors.js';
import { parseSoftdepText, type ModInfo } from './modinfo.js';

export interface ModulesDb {
  /** Module path → the paths it depends on. */
  dep: Map<string, string[]>;
  /** Normalised module name → path. */
  byName: Map<string, string>;
  /** Normalised module name → soft dependencies (names). */
  softdep: Map<string, { pre: string[]; post: string[] }>;
  /** Alias → normalised module names providing it. */
  alias: Map<string, string[]>;
  /** Normalised names of modules built into the kernel. */
  builtin: Set<string>;
}

export interface ModuleText {
  dep: string;
  softdep?: string;
  alias?: string;
  builtin?: string;
}

/** `kernel/arch/x86/crypto/crc32c-intel.ko.xz` → `crc32c_intel` (the kernel treats - and _ alike). */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return normaliseName(base.replace(/\.ko(\.(xz|gz|zst))?$/, ''));
}

export function normaliseName(name: string): string {
  return name.replace(/-/g, '_');
}

/** Parses the text of modules.dep (and optionally softdep, alias, builtin) into a database. */
export function parseModulesDb(text: ModuleText): ModulesDb {
  const db: ModulesDb = { dep: new Map(), byName: new Map(), softdep: new Map(), alias: new Map(), builtin: new Set() };
  for (const [i, raw] of text.dep.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new CakeError('bad-archive', `modules.dep line ${i + 1}: no ':' in ${JSON.stringify(line.slice(0, 80))}`);
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== '');
    db.dep.set(path, deps);
    db.byName.set(moduleName(path), path);
  }
  for (const raw of (text.softdep ?? '').split('\n')) {
    const m = /^\s*softdep\s+(\S+)\s+(.*)$/.exec(raw);
    if (m === null) continue;
    const soft = parseSoftdepText(m[2] as string);
    const name = normaliseName(m[1] as string);
    const prev = db.softdep.get(name) ?? { pre: [], post: [] };
    db.softdep.set(name, { pre: [...prev.pre, ...soft.pre], post: [...prev.post, ...soft.post] });
  }
  for (const raw of (text.alias ?? '').split('\n')) {
    const m = /^\s*alias\s+(\S+)\s+(\S+)\s*$/.exec(raw);
    if (m === null) continue;
    const list = db.alias.get(m[1] as string) ?? [];
    const name = normaliseName(m[2] as string);
    if (!list.includes(name)) list.push(name);
    db.alias.set(m[1] as string, list);
  }
  for (const raw of (text.builtin ?? '').split('\n')) if (raw.trim() !== '') db.builtin.add(moduleName(raw.trim()));
  return db;
}

/**
 * Writes depmod-style texts for modules described by their `.modinfo` (what depmod would write
 * for them): modules.dep with transitive dependencies listed before their own dependencies,
 * modules.softdep, and modules.alias for aliases without wildcards (enough for soft dependencies
 * such as `crypto-crc32c`). Lines sorted by path. Unknown `depends=` names are an error.
 */
export function writeModulesTexts(modules: ReadonlyArray<{ path: string; info: ModInfo }>): Required<Omit<ModuleText, 'builtin'>> {
  const byName = new Map<string, { path: string; info: ModInfo }>();
  for (const m of modules) byName.set(normaliseName(m.info.name || moduleName(m.path)), m);
  const sorted = [...modules].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const closure = (start: { path: string; info: ModInfo }): string[] => {
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (m: { path: string; info: ModInfo }): void => {
      for (const d of m.info.depends) {
        const dep = byName.get(normaliseName(d));
        if (dep === undefined) throw new CakeError('bad-archive', `module ${m.path} depends on ${d}, which is not in the kernel package`);
        if (seen.has(dep.path)) continue;
        seen.add(dep.path);
        visit(dep);
        order.push(dep.path);
      }
    };
    visit(start);
    return order.reverse();
  };
  const dep = sorted.map((m) => `${m.path}: ${closure(m).join(' ')}`.trimEnd()).join('\n');
  const soft = sorted
    .filter((m) => m.info.softPre.length + m.info.softPost.length > 0)
    .map((m) => {
      const pre = m.info.softPre.length ? ` pre: ${m.info.softPre.join(' ')}` : '';
      const post = m.info.softPost.length ? ` post: ${m.info.softPost.join(' ')}` : '';
      return `softdep ${moduleName(m.path)}${pre}${post}`;
    })
    .join('\n');
  const alias = sorted
    .flatMap((m) => m.info.aliases.filter((a) => !/[*?[:]/.test(a)).map((a) => `alias ${a} ${moduleName(m.path)}`))
    .join('\n');
  return { dep: dep + '\n', softdep: soft === '' ? '' : soft + '\n', alias: alias === '' ? '' : alias + '\n' };
}

export interface LoadPlan {
  /** Module paths in the order to load them. */
  order: string[];
  /** Requested names the kernel has built in (nothing to load). */
  builtin: string[];
  /** Requested names that are neither modules nor built in. */
  missing: string[];
}

/**
 * The load order for `wanted` (module names or aliases): each module after its dependencies
 * (from modules.dep) and its `pre:` soft dependencies, before its `post:` ones; soft
 * dependencies that do not exist are skipped, as modprobe does. An alias stands for every module
 * providing it (sorted by name). Deterministic; each path appears once.
 */
export function loadOrder(db: ModulesDb, wanted: readonly string[]): LoadPlan {
  const plan: LoadPlan = { order: [], builtin: [], missing: [] };
  const done = new Set<string>();
  const active = new Set<string>();
  const resolveName = (name: string): { paths: string[]; builtin: boolean } => {
    const n = normaliseName(name);
    const direct = db.byName.get(n);
    if (direct !== undefined) return { paths: [direct], builtin: false };
    if (db.builtin.has(n)) return { paths: [], builtin: true };
    const viaAlias = [...(db.alias.get(name) ?? []), ...(name !== n ? (db.alias.get(n) ?? []) : [])];
    const paths = [...new Set(viaAlias)].sort().flatMap((m) => {
      const p = db.byName.get(m);
      return p === undefined ? [] : [p];
    });
    return { paths, builtin: paths.length === 0 && viaAlias.some((m) => db.builtin.has(m)) };
  };
  const visit = (path: string): void => {
    if (done.has(path) || active.has(path)) return;
    active.add(path);
    const soft = db.softdep.get(moduleName(path));
    for (const s of soft?.pre ?? []) for (const p of resolveName(s).paths) visit(p);
    for (const d of db.dep.get(path) ?? []) visit(d);
    active.delete(path);
    done.add(path);
    plan.order.push(path);
    for (const s of soft?.post ?? []) for (const p of resolveName(s).paths) visit(p);
  };
  for (const name of wanted) {
    const r = resolveName(name);
    if (r.paths.length === 0) (r.builtin ? plan.builtin : plan.missing).push(name);
    for (const p of r.paths) visit(p);
  }
  return plan;
}
