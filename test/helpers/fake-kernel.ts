import { writeFileSync } from 'node:fs';

/**
 * A fake x86 bzImage at `path`: a setup header naming a release (what bake reads), nothing to
 * boot. For tests that interrupt a bake or never boot what it makes.
 */
export function fakeBzImage(path: string): void {
  const b = Buffer.alloc(4096);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x100, 0x20e);
  b.write('6.1.0-fake (cake test) #1\0', 0x300, 'latin1');
  writeFileSync(path, b);
}
