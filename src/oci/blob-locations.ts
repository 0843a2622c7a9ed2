/**
 * Which repositories of a registry are known to hold a blob: remembered after pulls and pushes so
 * that a later push of the same blob to another repository of that registry can ask for a
 * cross-repository mount instead of uploading it. A hint cache: losing an update only costs an
 * upload, so concurrent writers just replace the file atomically.
 */
import { writeFileAtomic } from '../store/atomic-write.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Locations = Record<string, Record<string, string[]>>;

const MAX_REPOS_PER_BLOB = 8;

export class BlobLocations {
  private readonly file: string;

  /** `dir` is a cache directory (created on first write). */
  constructor(private readonly dir: string) {
    this.file = join(dir, 'blob-locations.json');
  }

  private read(): Locations {
    try {
      const doc = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return doc !== null && typeof doc === 'object' ? (doc as Locations) : {};
    } catch {
      return {};
    }
  }

  /** Repositories of `registry` known to hold `digest`, most recent first. */
  repositories(registry: string, digest: string): string[] {
    const r = this.read()[registry]?.[digest];
    return Array.isArray(r) ? r.filter((x) => typeof x === 'string') : [];
  }

  /** Remembers that `repository` on `registry` holds each of `digests`. Never throws. */
  remember(registry: string, repository: string, digests: string[]): void {
    try {
      const all = this.read();
      const reg = (all[registry] ??= {});
      for (const d of digests) reg[d] = [repository, ...(reg[d] ?? []).filter((x) => x !== repository)].slice(0, MAX_REPOS_PER_BLOB);
      mkdirSync(this.dir, { recursive: true });
      writeFileAtomic(this.file, JSON.stringify(all));
    } catch {
      // a hint cache: never fail a pull or push over it
    }
  }
}
