/**
 * One package record of a Packages stanza, as a PackageIndex holds it: the plain fields read at
 * once, the relation fields parsed lazily. Pure, no I/O.
 */
import { CakeError } from '../model/errors.js';
import type { Stanza } from './deb822.js';
import type { MultiArch, PackageRecord } from './package-index.js';
import { type Alternatives, type Relation, parseProvides, parseRelations } from './relations.js';

const MULTI_ARCH = new Set<string>(['same', 'foreign', 'allowed', 'no']);
const MENTION_FIELDS = ['pre-depends', 'depends', 'conflicts', 'breaks', 'recommends', 'replaces', 'provides'];
/** A relation's package name: at the start of the field or after a ',' or '|'. */
const MENTION = /(?:^|[,|])\s*([A-Za-z0-9][A-Za-z0-9+.-]*)/g;

/**
 * A record whose relation fields are parsed on first use (most are never looked at). A malformed
 * Provides throws CakeError('bad-archive') naming the package at construction, another relation
 * field when it is first read.
 */
export class IndexedPackage implements PackageRecord {
  name: string;
  version: string;
  arch: string;
  multiArch?: MultiArch;
  essential: boolean;
  priority: string;
  filename: string;
  size: number;
  sha256: string;
  installedSize?: number;
  source?: string;
  origin?: string;
  suite?: string;
  notAutomatic?: boolean;
  alsoIn?: string[];
  provides: Relation[];
  private readonly raw: Stanza;
  private parsed: Record<string, Alternatives[]> | undefined;

  constructor(s: Stanza, origin: string | undefined) {
    this.raw = s;
    this.name = s['package'] as string;
    this.version = s['version'] as string;
    this.arch = s['architecture'] as string;
    const ma = s['multi-arch'];
    if (ma !== undefined && MULTI_ARCH.has(ma)) this.multiArch = ma as MultiArch;
    this.essential = s['essential'] === 'yes';
    this.priority = s['priority'] ?? '';
    this.filename = s['filename'] ?? '';
    this.size = Number(s['size'] ?? 0);
    this.sha256 = s['sha256'] ?? '';
    if (s['installed-size'] !== undefined) this.installedSize = Number(s['installed-size']);
    const src = s['source'];
    if (src !== undefined) this.source = src.split(' ', 1)[0];
    if (origin !== undefined) this.origin = origin;
    this.provides = s['provides'] === undefined ? [] : this.wrap('Provides', () => parseProvides(s['provides'] as string));
  }

  get depends(): Alternatives[] {
    return this.rel('depends', 'Depends');
  }
  get preDepends(): Alternatives[] {
    return this.rel('pre-depends', 'Pre-Depends');
  }
  get recommends(): Alternatives[] {
    return this.rel('recommends', 'Recommends');
  }
  get conflicts(): Alternatives[] {
    return this.rel('conflicts', 'Conflicts');
  }
  get breaks(): Alternatives[] {
    return this.rel('breaks', 'Breaks');
  }
  get replaces(): Alternatives[] {
    return this.rel('replaces', 'Replaces');
  }

  /**
   * The names this stanza mentions, in the order apt's cache generator first meets them: the
   * package, then Pre-Depends, Depends, Conflicts, Breaks, Recommends, Replaces, Provides (apt
   * also reads Suggests and Enhances between Recommends and Provides; the index does not keep
   * them). A cheap scan of the raw text, no full parse.
   */
  mentionedNames(visit: (name: string) => void): void {
    visit(this.name);
    for (const key of MENTION_FIELDS) {
      const text = this.raw[key];
      if (text === undefined) continue;
      MENTION.lastIndex = 0;
      for (let m = MENTION.exec(text); m !== null; m = MENTION.exec(text)) visit(m[1] as string);
    }
  }

  private rel(key: string, label: string): Alternatives[] {
    const text = this.raw[key];
    if (text === undefined) return [];
    this.parsed ??= {};
    return (this.parsed[key] ??= this.wrap(label, () => parseRelations(text)));
  }

  private wrap<T>(label: string, parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CakeError('bad-archive', `${this.name} ${this.version}: ${label}: ${why}`, { cause: err });
    }
  }
}
