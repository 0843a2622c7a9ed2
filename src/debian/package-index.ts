/**
 * An in-memory index of binary packages built from Packages stanzas of one or several suites,
 * components and architectures, with the lookups a resolver needs: by name, by provided
 * (virtual) name, and "which packages satisfy this relation" under dpkg's Multi-Arch rules.
 * Pure, no I/O.
 */
import { CakeError } from '../model/errors.js';
import type { Stanza } from './deb822.js';
import { IndexedPackage } from './indexed-package.js';
import type { Alternatives, Relation } from './relations.js';
import { compareVersions, satisfies } from './version.js';

export type MultiArch = 'same' | 'foreign' | 'allowed' | 'no';

/** One binary package version as listed in a Packages index. */
export interface PackageRecord {
  name: string;
  version: string;
  /** 'all' or a Debian architecture name. */
  arch: string;
  multiArch?: MultiArch;
  essential: boolean;
  /** 'required', 'important', 'standard', 'optional', 'extra', or '' when absent. */
  priority: string;
  depends: Alternatives[];
  preDepends: Alternatives[];
  recommends: Alternatives[];
  conflicts: Alternatives[];
  breaks: Alternatives[];
  replaces: Alternatives[];
  provides: Relation[];
  /** Relative to the archive root of `origin`. */
  filename: string;
  size: number;
  sha256: string;
  /** KiB. */
  installedSize?: number;
  /** The source package name (without the "(version)" suffix Packages may carry). */
  source?: string;
  /** Opaque tag given to {@link PackageIndex.add}: which archive the record came from. */
  origin?: string;
  /** The suite it was listed in (for `name/suite` requests), when {@link PackageIndex.add} was told. */
  suite?: string;
  /** From a NotAutomatic suite (backports, experimental): a candidate only when nothing else is. */
  notAutomatic?: boolean;
  /** Other suites listing the same name, version and architecture (added after `suite`). */
  alsoIn?: string[];
}

/** The fields (lowercase) an index needs: pass to parseStanzas as its allow-list. */
export const PACKAGE_FIELDS: ReadonlySet<string> = new Set([
  'package',
  'version',
  'architecture',
  'multi-arch',
  'essential',
  'priority',
  'depends',
  'pre-depends',
  'recommends',
  'conflicts',
  'breaks',
  'replaces',
  'provides',
  'filename',
  'size',
  'sha256',
  'installed-size',
  'source',
]);

/** A package providing a virtual name, with the version it provides (if the Provides is versioned). */
export interface Provider {
  pkg: PackageRecord;
  version?: string;
}

export interface SatisfyOptions {
  /** The native architecture ('all' packages count as native). */
  native: string;
  /** The architecture of the package declaring the relation; default: native. */
  fromArch?: string;
  /**
   * 'depends' (Depends, Pre-Depends, Recommends) or 'conflicts' (Conflicts, Breaks, Replaces).
   * Unqualified conflicts apply to every architecture, as in dpkg. Default 'depends'.
   */
  kind?: 'depends' | 'conflicts';
}

/**
 * Packages by name and by provided name. Adding is idempotent for a (name, version, arch)
 * already present: the first record added wins (add the preferred archive first).
 */
export class PackageIndex {
  private readonly byNameMap = new Map<string, PackageRecord[]>();
  private readonly providersMap = new Map<string, Provider[]>();
  private count = 0;
  /** Records in the order added, for {@link aptId}. */
  private readonly added: IndexedPackage[] = [];
  private aptIds: Map<string, number> | undefined;

  /** Builds an index from stanzas (see {@link PACKAGE_FIELDS}) in one call. */
  static from(stanzas: Iterable<Stanza>, origin?: string): PackageIndex {
    const index = new PackageIndex();
    index.add(stanzas, origin);
    return index;
  }

  /**
   * Adds the stanzas of one Packages file. Throws CakeError('bad-archive') for a stanza without
   * Package, Version or Architecture, or with a malformed Provides.
   */
  add(stanzas: Iterable<Stanza>, origin?: string, from: { suite?: string; notAutomatic?: boolean } = {}): void {
    for (const s of stanzas) {
      if (s['package'] === undefined || s['version'] === undefined || s['architecture'] === undefined) {
        const what = s['package'] ?? JSON.stringify(s).slice(0, 80);
        throw new CakeError('bad-archive', `package stanza without Package, Version or Architecture: ${what}`);
      }
      const pkg = new IndexedPackage(s, origin);
      if (from.suite !== undefined) pkg.suite = from.suite;
      if (from.notAutomatic) pkg.notAutomatic = true;
      let list = this.byNameMap.get(pkg.name);
      if (list === undefined) {
        list = [];
        this.byNameMap.set(pkg.name, list);
      }
      const same = list.find((p) => p.arch === pkg.arch && p.version === pkg.version);
      if (same !== undefined) {
        // e.g. a point release's version listed in bookworm and bookworm-updates: NAME/SUITE finds it in both
        if (from.suite !== undefined && from.suite !== same.suite && !same.alsoIn?.includes(from.suite)) (same.alsoIn ??= []).push(from.suite);
        continue;
      }
      // Keep each list sorted newest first; lists are short, so insertion is fine.
      let at = list.length;
      while (at > 0 && compareVersions((list[at - 1] as PackageRecord).version, pkg.version) < 0) at--;
      list.splice(at, 0, pkg);
      this.count++;
      this.added.push(pkg);
      this.aptIds = undefined;
      for (const p of pkg.provides) {
        let provs = this.providersMap.get(p.name);
        if (provs === undefined) {
          provs = [];
          this.providersMap.set(p.name, provs);
        }
        provs.push(p.version === undefined ? { pkg } : { pkg, version: p.version });
      }
    }
  }

  /**
   * apt's package ID of `name`: apt numbers a package when its cache generator first meets the
   * name (as a Package, a relation's target or a Provides) reading the Packages files in order,
   * and breaks a tie between equally good providers by the higher ID (pkgDepCache's
   * CompareProviders). Here: the same count over the records in the order added (add the files in
   * sources.list order). -1 for a name never seen. Computed once per index, on first use.
   */
  aptId(name: string): number {
    if (this.aptIds === undefined) {
      const ids = new Map<string, number>();
      const visit = (n: string): void => {
        if (!ids.has(n)) ids.set(n, ids.size);
      };
      for (const pkg of this.added) pkg.mentionedNames(visit);
      this.aptIds = ids;
    }
    return this.aptIds.get(name) ?? -1;
  }

  /** How many records the index holds. */
  get size(): number {
    return this.count;
  }

  /** Every record, in no particular order. */
  *packages(): IterableIterator<PackageRecord> {
    for (const list of this.byNameMap.values()) yield* list;
  }

  /** Every real package name. */
  names(): IterableIterator<string> {
    return this.byNameMap.keys();
  }

  /** All records named `name` (every version and architecture), newest first. */
  byName(name: string): readonly PackageRecord[] {
    return this.byNameMap.get(name) ?? [];
  }

  /** Packages providing `name` (a virtual or real name), with the provided version if any. */
  providers(name: string): readonly Provider[] {
    return this.providersMap.get(name) ?? [];
  }

  /**
   * The candidate of (name, arch): its highest version, like apt with the default pins (a
   * NotAutomatic suite's version only when no other suite has one). `arch` 'all' packages answer
   * for the native one: candidate('mawk', 'amd64') may be an arch-all record.
   */
  candidate(name: string, arch: string): PackageRecord | undefined {
    let fallback: PackageRecord | undefined;
    for (const p of this.byName(name)) {
      if (p.arch !== arch && p.arch !== 'all') continue;
      if (!p.notAutomatic) return p;
      fallback ??= p;
    }
    return fallback;
  }

  /** True when `pkg` is the candidate among records of its name and architecture. */
  isCandidate(pkg: PackageRecord): boolean {
    let fallback: PackageRecord | undefined;
    for (const p of this.byName(pkg.name)) {
      if (p.arch !== pkg.arch) continue;
      if (!p.notAutomatic) return p === pkg;
      fallback ??= p;
    }
    return fallback === pkg;
  }

  /**
   * Every record satisfying `rel`: real packages of that name whose version and architecture
   * fit (newest first), then providers whose Provides fits (a versioned relation needs a
   * versioned Provides). Each record appears once.
   */
  satisfying(rel: Relation, options: SatisfyOptions): PackageRecord[] {
    const out: PackageRecord[] = [];
    const kind = options.kind ?? 'depends';
    const fromArch = options.fromArch ?? options.native;
    for (const p of this.byName(rel.name)) {
      if (rel.op !== undefined && !satisfies(p.version, rel.op, rel.version as string)) continue;
      if (archSatisfied(p, rel, fromArch, options.native, kind)) out.push(p);
    }
    for (const prov of this.providers(rel.name)) {
      if (rel.op !== undefined) {
        if (prov.version === undefined || !satisfies(prov.version, rel.op, rel.version as string)) continue;
      }
      if (!out.includes(prov.pkg) && archSatisfied(prov.pkg, rel, fromArch, options.native, kind)) {
        out.push(prov.pkg);
      }
    }
    return out;
  }
}

/**
 * dpkg's rule (lib/dpkg/depcon.c) for whether `target` can satisfy `rel`, declared by a package of
 * architecture `fromArch`:
 * - an unqualified relation is satisfied by a Multi-Arch: foreign package of any architecture;
 * - `:any` is satisfied by a Multi-Arch: allowed package of any architecture (and nothing else),
 *   and an unqualified or `:any` Conflicts/Breaks/Replaces applies to every architecture;
 * - otherwise the architectures must be equal, 'all' and `:native` meaning the native one.
 */
export function archSatisfied(
  target: PackageRecord,
  rel: Relation,
  fromArch: string,
  native: string,
  kind: 'depends' | 'conflicts',
): boolean {
  if (rel.arch === undefined && target.multiArch === 'foreign') return true;
  let depArch = rel.arch ?? (kind === 'conflicts' ? 'any' : fromArch);
  if (depArch === 'any') return target.multiArch === 'allowed' || kind === 'conflicts';
  if (depArch === 'all' || depArch === 'native') depArch = native;
  const pkgArch = target.arch === 'all' ? native : target.arch;
  return depArch === pkgArch;
}
