/**
 * probeLocalFile on a tar whose first entry is bad: a first header that checks out makes it a
 * tar (the extraction then refuses it naming the entry and the reason), never "binary data, not
 * a tar archive" (issue 15 items 14 and 18).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probeLocalFile } from '../../../src/pull/image-archive.js';
import { entry, file, header, pad, tar } from '../../helpers/tar-build.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function put(data: Buffer): string {
  const d = mkdtempSync(join(tmpdir(), 'cake-probe-'));
  dirs.push(d);
  writeFileSync(join(d, 'in.tar'), data);
  return join(d, 'in.tar');
}
const o = (n: number): Buffer => Buffer.from(n.toString(8).padStart(11, '0') + '\u0000', 'latin1');

describe('probeLocalFile', () => {
  it('a first entry with a sparse map that does not add up is a tar (the extraction says why)', async () => {
    const s = header({ name: 's', type: 'S', format: 'gnu', size: 8, patch: [[386, Buffer.concat([o(0), o(4)])], [483, o(10)]] });
    expect(await probeLocalFile(put(tar(s, pad(Buffer.from('12345678')), file('after', 'A'))))).toEqual({ kind: 'rootfs' });
  });

  it('a first entry with a malformed size is a tar too', async () => {
    expect(await probeLocalFile(put(tar(entry({ name: 'f', patch: [[124, Buffer.from('00000000003x', 'latin1')]] }, 'abc'))))).toEqual({ kind: 'rootfs' });
  });

  it('a first block that is no tar header is described', async () => {
    const junk = Buffer.alloc(2048, 0x41);
    junk[0] = 0x01;
    expect(await probeLocalFile(put(junk))).toEqual({ kind: 'other', found: 'binary data (01 41 41 41 41 41 41 41 …), not a tar archive' });
  });
});
