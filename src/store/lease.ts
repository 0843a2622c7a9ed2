/**
 * Shared leases: files `<dir>/<tag>.<pid>.<rand>.lease` naming their holder (src/store/owner.ts).
 * Any number of processes hold a lease on the same tag at once; an exclusive operation (`cake rm`
 * of an env in use, `cake gc` deleting blobs) looks for live leases and refrains. A lease is
 * removed when its holder releases it or exits; one left by a killed process names a dead owner
 * and is ignored (and removed by the next look or by gc).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { formatOwner, ownerState, parseOwner, type Owner } from './owner.js';

export interface Lease {
  release(): void;
}

const held = new Set<string>();
let exitHook = false;

function escape(tag: string): string {
  return tag.replace(/[^A-Za-z0-9_-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Holds a lease on `tag` in `dir` until `release()` or the end of this process. */
export function holdLease(dir: string, tag: string): Lease {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${escape(tag)}.${process.pid}.${randomBytes(4).toString('hex')}.lease`);
  writeFileAtomic(file, `${formatOwner()}\n`);
  held.add(file);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const f of held) rmSync(f, { force: true });
    });
  }
  return {
    release() {
      held.delete(file);
      rmSync(file, { force: true });
    },
  };
}

/** The live holders of leases on `tag` (all tags when undefined) in `dir`; dead ones are removed on the way. */
export function liveLeases(dir: string, tag?: string): Owner[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const prefix = tag === undefined ? undefined : `${escape(tag)}.`;
  const out: Owner[] = [];
  for (const name of names) {
    if (!name.endsWith('.lease') || (prefix !== undefined && !name.startsWith(prefix))) continue;
    if (prefix !== undefined && !/^\d+\.[0-9a-f]{8}\.lease$/.test(name.slice(prefix.length))) continue;
    const file = join(dir, name);
    let owner: Owner | undefined;
    try {
      owner = parseOwner(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    if (owner && ownerState(owner).alive) out.push(owner);
    else rmSync(file, { force: true });
  }
  return out;
}
