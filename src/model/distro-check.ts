/**
 * The distro definition schema (documented in distro.ts), checked with cake's strict YAML checker
 * (yaml-check.ts, shared with recipes): every problem carries its line and key path, and all of
 * them are collected instead of stopping at the first.
 */
import { VARIANTS } from './names.js';
import { isMap, isScalar, isSeq, type Document, type LineCounter, type YAMLMap } from 'yaml';
import { sub, YamlChecker, type YamlNode } from './yaml-check.js';
import { isSha256Hex } from './digest.js';
import { DISTRO_ARCHES, isDistroArch, type DistroArch } from './platform.js';
import type { ArchiveAliasesDef, ArchiveSourceDef, DistroDef, ReleaseDef, SourceDef } from './distro.js';

export interface Problem {
  file: string;
  line: number;
  /** Key path, e.g. `releases["3.22"].sources[0].arch.x86_64.sha256`. */
  path: string;
  message: string;
}

const DISTRO_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const RELEASE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const SUITE = /^[a-z0-9][a-z0-9.-]{0,62}$/;
const COMPONENT = /^[a-z0-9][a-z0-9-]{0,62}$/;
const IMAGE = /^[a-z0-9.-]+(:[0-9]+)?\/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?@sha256:[0-9a-f]{64}$/;
const KINDS = ['tarball', 'registry', 'archive'] as const;

type Node = YamlNode;
type Checker = YamlChecker;

/** A non-empty list of known arches. */
function arches(c: Checker, node: Node, path: string): DistroArch[] | undefined {
  const list = c.strList(node, path);
  if (list === undefined) return undefined;
  const bad = list.find((a) => !isDistroArch(a));
  if (bad !== undefined) return c.fail(node, path, `unknown arch ${JSON.stringify(bad)} (known: ${DISTRO_ARCHES.join(', ')})`);
  return list as DistroArch[];
}

export function checkDoc(doc: Document, file: string, lc: LineCounter): { def?: DistroDef; problems: Problem[] } {
  const c = new YamlChecker(file, lc);
  const problems = (): Problem[] => c.problems.map((p) => ({ ...p.at, message: p.message }));
  if (c.syntax(doc)) return { problems: problems() };
  const f = c.map(doc.contents, '', ['name', 'description', 'aliases', 'default', 'archive-aliases', 'releases'], ['name', 'description', 'default', 'releases']);
  if (f === undefined) return { problems: problems() };
  const name = c.str(f.get('name'), 'name', { pattern: DISTRO_NAME, what: 'distro name' });
  const base = file.replace(/^.*[\\/]/, '').replace(/\.ya?ml$/, '');
  if (name !== undefined && name !== base) c.fail(f.get('name'), 'name', `expected ${JSON.stringify(base)} (the file's name)`);
  const description = c.str(f.get('description'), 'description');
  const aliases = f.has('aliases') ? c.strList(f.get('aliases'), 'aliases', { pattern: DISTRO_NAME, what: 'alias' }) : [];
  const dflt = c.str(f.get('default'), 'default');
  const releases = checkReleases(c, f.get('releases'));
  const names = isMap(f.get('releases')) ? (f.get('releases') as YAMLMap).items.map((p) => (isScalar(p.key) ? p.key.value : undefined)) : [];
  if (dflt !== undefined && names.length > 0 && !names.includes(dflt)) {
    c.fail(f.get('default'), 'default', `expected one of the releases: ${names.join(', ')}`);
  }
  const archiveAliases = f.has('archive-aliases') ? checkArchiveAliases(c, f.get('archive-aliases'), releases ?? []) : undefined;
  if (c.problems.length > 0) return { problems: problems() };
  const def: DistroDef = { name: name!, description: description!, aliases: aliases!, default: dflt!, releases: releases!, file };
  if (archiveAliases !== undefined) def.archiveAliases = archiveAliases;
  return { def, problems: [] };
}

/** `archive-aliases: { suites: [stable, …], lts: NAME }`: names no release or release alias uses. */
function checkArchiveAliases(c: Checker, node: Node, releases: readonly ReleaseDef[]): ArchiveAliasesDef | undefined {
  const f = c.map(node, 'archive-aliases', ['suites', 'lts'], []);
  if (f === undefined) return undefined;
  const out: ArchiveAliasesDef = { suites: [] };
  if (f.has('suites')) out.suites = c.strList(f.get('suites'), 'archive-aliases.suites', { pattern: SUITE, what: 'suite' }) ?? [];
  if (f.has('lts')) {
    const lts = c.str(f.get('lts'), 'archive-aliases.lts', { pattern: RELEASE_NAME, what: 'alias' });
    if (lts !== undefined) out.lts = lts;
  }
  const taken = new Set(releases.flatMap((r) => [r.name, ...r.aliases]));
  for (const n of [...out.suites, ...(out.lts === undefined ? [] : [out.lts])]) {
    if (taken.has(n)) c.fail(node, 'archive-aliases', `${JSON.stringify(n)} already names a release or a release alias`);
  }
  if (out.suites.length === 0 && out.lts === undefined) c.fail(node, 'archive-aliases', 'expected suites or lts');
  return out;
}

function checkReleases(c: Checker, node: Node): ReleaseDef[] | undefined {
  if (!isMap(node)) return c.fail(node, 'releases', 'expected a mapping of release name to release');
  if (node.items.length === 0) return c.fail(node, 'releases', 'expected a non-empty mapping');
  const out: ReleaseDef[] = [];
  const entries = c.pairs(node, 'releases');
  const owner = new Map<string, string>(entries.map(([key]) => [key, key]));
  for (const [key, value, keyNode] of entries) {
    const path = sub('releases', key);
    if (!RELEASE_NAME.test(key)) c.fail(keyNode, path, 'invalid release name');
    const f = c.map(value, path, ['description', 'aliases', 'sources'], ['sources']);
    if (f === undefined) continue;
    const description = f.has('description') ? c.str(f.get('description'), sub(path, 'description')) : undefined;
    const aliases = f.has('aliases') ? c.strList(f.get('aliases'), sub(path, 'aliases'), { pattern: RELEASE_NAME, what: 'alias' }) : [];
    for (const alias of aliases ?? []) {
      const other = owner.get(alias);
      if (other === undefined) owner.set(alias, key);
      else c.fail(f.get('aliases'), sub(path, 'aliases'), `${JSON.stringify(alias)} already names release ${other}`);
    }
    const sources = checkSources(c, f.get('sources'), sub(path, 'sources'));
    if (aliases && sources) out.push({ name: key, ...(description === undefined ? {} : { description }), aliases, sources });
  }
  return out;
}

function checkSources(c: Checker, node: Node, path: string): SourceDef[] | undefined {
  if (!isSeq(node)) return c.fail(node, path, 'expected a list');
  if (node.items.length === 0) return c.fail(node, path, 'expected a non-empty list');
  const out = node.items.map((item, i) => checkSource(c, item, `${path}[${i}]`));
  return out.every((s): s is SourceDef => s !== undefined) ? out : undefined;
}

function checkSource(c: Checker, node: Node, path: string): SourceDef | undefined {
  if (!isMap(node)) return c.fail(node, path, 'expected a mapping');
  if (!node.has('kind')) return c.fail(node, sub(path, 'kind'), `missing (one of ${KINDS.join(', ')})`);
  const kind = c.oneOf(node.get('kind', true), sub(path, 'kind'), KINDS);
  if (kind === 'tarball') {
    const f = c.map(node, path, ['kind', 'strip', 'arch'], ['kind', 'arch']);
    if (f === undefined) return undefined;
    const strip = f.has('strip') ? c.int(f.get('strip'), sub(path, 'strip'), 16) : 0;
    const arch = checkTarballArches(c, f.get('arch'), sub(path, 'arch'));
    return arch && strip !== undefined ? { kind, strip, arch } : undefined;
  }
  if (kind === 'registry') {
    const f = c.map(node, path, ['kind', 'image', 'arch'], ['kind', 'image']);
    if (f === undefined) return undefined;
    const image = c.str(f.get('image'), sub(path, 'image'), { pattern: IMAGE, what: 'image (HOST/REPO[:TAG]@sha256:DIGEST, digest required)' });
    const arch = f.has('arch') ? arches(c, f.get('arch'), sub(path, 'arch')) : undefined;
    if (image === undefined || (f.has('arch') && arch === undefined)) return undefined;
    return arch === undefined ? { kind, image } : { kind, image, arch };
  }
  if (kind === 'archive') return checkArchive(c, node, path);
  return undefined;
}

function checkTarballArches(c: Checker, node: Node, path: string): Partial<Record<DistroArch, { url: string; sha256: string }>> | undefined {
  if (!isMap(node)) return c.fail(node, path, 'expected a mapping of arch to { url, sha256 }');
  if (node.items.length === 0) return c.fail(node, path, 'expected a non-empty mapping');
  const out: Partial<Record<DistroArch, { url: string; sha256: string }>> = {};
  let ok = true;
  for (const [arch, value, keyNode] of c.pairs(node, path)) {
    const p = sub(path, arch);
    if (!isDistroArch(arch)) {
      ok = !!c.fail(keyNode, p, `unknown arch (known: ${DISTRO_ARCHES.join(', ')})`);
      continue;
    }
    const f = c.map(value, p, ['url', 'sha256'], ['url', 'sha256']);
    const url = f && c.url(f.get('url'), sub(p, 'url'), ['https:']);
    const sha256 = f && c.str(f.get('sha256'), sub(p, 'sha256'));
    if (sha256 !== undefined && !isSha256Hex(sha256)) c.fail(f!.get('sha256'), sub(p, 'sha256'), 'expected 64 lowercase hex digits');
    if (url && sha256 && isSha256Hex(sha256)) out[arch] = { url, sha256 };
    else ok = false;
  }
  return ok ? out : undefined;
}

function checkArchive(c: Checker, node: YAMLMap, path: string): ArchiveSourceDef | undefined {
  const keys = ['kind', 'keyring', 'variant', 'components', 'arch', 'repos'];
  const f = c.map(node, path, keys, keys);
  if (f === undefined) return undefined;
  const keyring = c.oneOf(f.get('keyring'), sub(path, 'keyring'), ['debian', 'ubuntu'] as const);
  const variant = c.oneOf(f.get('variant'), sub(path, 'variant'), VARIANTS);
  const components = c.strList(f.get('components'), sub(path, 'components'), { pattern: COMPONENT, what: 'component' });
  const arch = arches(c, f.get('arch'), sub(path, 'arch'));
  const reposNode = f.get('repos');
  const rpath = sub(path, 'repos');
  if (!isSeq(reposNode) || reposNode.items.length === 0) return c.fail(reposNode, rpath, 'expected a non-empty list');
  const repos = reposNode.items.map((item, i) => {
    const p = `${rpath}[${i}]`;
    const r = c.map(item, p, ['mirror', 'suites'], ['mirror', 'suites']);
    if (r === undefined) return undefined;
    const suites = c.strList(r.get('suites'), sub(p, 'suites'), { pattern: SUITE, what: 'suite' });
    const m = r.get('mirror');
    const mp = sub(p, 'mirror');
    const mirror: Partial<Record<DistroArch, string>> = {};
    if (isMap(m)) {
      for (const [a, v, k] of c.pairs(m, mp)) {
        if (!arch?.includes(a as DistroArch)) c.fail(k, sub(mp, a), `arch not listed in ${sub(path, 'arch')}`);
        const u = c.url(v, sub(mp, a), ['http:', 'https:']);
        if (u !== undefined) mirror[a as DistroArch] = u;
      }
      const missing = (arch ?? []).filter((a) => !(a in mirror));
      if (arch && missing.length > 0) c.fail(m, mp, `no mirror for ${missing.join(', ')}`);
    } else {
      const u = c.url(m, mp, ['http:', 'https:']);
      if (u !== undefined) for (const a of arch ?? []) mirror[a] = u;
    }
    return suites && { mirror, suites };
  });
  if (!keyring || !variant || !components || !arch || !repos.every((r) => r !== undefined)) return undefined;
  return { kind: 'archive', keyring, variant, components, arch, repos: repos as ArchiveSourceDef['repos'] };
}
