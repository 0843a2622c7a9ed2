import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandTokens, ldSoConfDirs, resolveClosure } from '../../../src/cook/closure.js';
import type { ElfInfo } from '../../../src/archive/elf.js';
import { buildElf, type ElfSpec } from './elf-fixture.js';

const INTERP = '/lib64/ld-linux-x86-64.so.2';

describe('runtime closure resolution', () => {
  const root = mkdtempSync(join(tmpdir(), 'cake-closure-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const put = (p: string, spec: ElfSpec | string): void => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), typeof spec === 'string' ? spec : buildElf(spec));
  };
  // merged /usr, Debian multiarch, ld.so.conf with an include glob
  mkdirSync(join(root, 'usr/lib64'), { recursive: true });
  symlinkSync('usr/lib64', join(root, 'lib64'));
  symlinkSync('usr/lib', join(root, 'lib'));
  put('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', { soname: 'ld-linux-x86-64.so.2', needed: [] });
  symlinkSync('../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(root, 'usr/lib64/ld-linux-x86-64.so.2'));
  put('/etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
  put('/etc/ld.so.conf.d/x86_64-linux-gnu.conf', '# multiarch\n/usr/local/lib/x86_64-linux-gnu\n');
  put('/etc/ld.so.conf.d/opt.conf', '/opt/conf-libs\n');
  put('/usr/lib/x86_64-linux-gnu/libc.so.6', { soname: 'libc.so.6', needed: [], payload: 'libc' });
  // libdep found through the program's RUNPATH ($ORIGIN), which needs libconf from ld.so.conf
  put('/opt/app/bin/prog', { interp: INTERP, needed: ['libdep.so.1', 'libc.so.6'], runpath: '$ORIGIN/../lib' });
  put('/opt/app/lib/libdep.so.1', { soname: 'libdep.so.1', needed: ['libconf.so.2', 'libc.so.6'] });
  // a wrong-machine libconf earlier in the search order is skipped
  put('/opt/conf-libs/libconf.so.2', { soname: 'libconf.so.2', needed: ['libc.so.6'], machine: 183 });
  put('/usr/lib/x86_64-linux-gnu/libconf.so.2', { soname: 'libconf.so.2', needed: ['libc.so.6'] });
  // RPATH of the program is inherited by its libraries (no RUNPATH anywhere)
  put('/usr/bin/old', { interp: INTERP, needed: ['liba.so'], rpath: '/opt/rp' });
  put('/opt/rp/liba.so', { soname: 'liba.so', needed: ['libb.so', 'libnone.so.9'] });
  put('/opt/rp/libb.so', { soname: 'libb.so', needed: [] });
  symlinkSync('/opt/app/bin/prog', join(root, 'usr/bin/prog'));

  it('follows RUNPATH with $ORIGIN, ld.so.conf includes and multiarch defaults, skipping foreign machines', async () => {
    const c = await resolveClosure(root, '/usr/bin/prog');
    expect(c.main.realGuestPath).toBe('/opt/app/bin/prog');
    expect(c.interp?.realGuestPath).toBe('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
    expect([...c.libs].map(([n, o]) => [n, o.realGuestPath])).toEqual([
      ['libdep.so.1', '/opt/app/lib/libdep.so.1'],
      ['libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
      ['libconf.so.2', '/usr/lib/x86_64-linux-gnu/libconf.so.2'],
    ]);
    expect(c.missing).toEqual([]);
  });

  it("uses the loader chain's RPATH and reports what it cannot find", async () => {
    const c = await resolveClosure(root, '/usr/bin/old');
    expect(c.libs.get('libb.so')?.guestPath).toBe('/opt/rp/libb.so');
    expect(c.missing).toEqual([{ name: 'libnone.so.9', neededBy: '/opt/rp/liba.so' }]);
  });

  it('reads ld.so.conf with includes', async () => {
    expect(await ldSoConfDirs(root)).toEqual(['/opt/conf-libs', '/usr/local/lib/x86_64-linux-gnu']);
  });

  it('expands $ORIGIN, ${LIB} and $PLATFORM and drops unknown tokens', () => {
    const info: ElfInfo = { bits: 64, endian: 'le', machine: 62, type: 3, osabi: 0, needed: [], rpath: [], runpath: undefined, flags1: 0 };
    expect(expandTokens('$ORIGIN/../lib', '/opt/x/bin', info)).toEqual(['/opt/x/lib']);
    expect(expandTokens('/usr/${LIB}/foo', '/', info)).toEqual(['/usr/lib/x86_64-linux-gnu/foo', '/usr/lib64/foo', '/usr/lib/foo']);
    expect(expandTokens('/p/$PLATFORM', '/', info)).toEqual(['/p/x86_64']);
    expect(expandTokens('/p/$WHAT', '/', info)).toEqual([]);
  });
});
