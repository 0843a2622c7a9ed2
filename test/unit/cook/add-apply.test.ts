/**
 * Host-side writes into an env from a file resolved in another env (`cake add --from`): the copy
 * never follows a symlink the other env's guest put there after planning, never blocks on a
 * fifo, and keeps holes (issue 15 items 4 and 10).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeGuestFile } from '../../../src/cook/add-apply.js';
import type { OwnershipTable } from '../../../src/model/ownership.js';

describe('writeGuestFile with a copy', () => {
  let dir: string;
  let root: string;
  let table: OwnershipTable;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cake-add-apply-'));
    root = join(dir, 'root');
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    table = {};
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a source swapped for a symlink to a host file, and writes nothing', async () => {
    writeFileSync(join(dir, 'secret'), 'host secret');
    symlinkSync(join(dir, 'secret'), join(dir, 'swapped'));
    await expect(writeGuestFile(root, table, '/usr/bin/tool', { copyOf: join(dir, 'swapped') }, 0o755)).rejects.toThrow(/ELOOP/);
    expect(existsSync(join(root, 'usr/bin/tool'))).toBe(false);
    expect(execFileSync('ls', ['-A', join(root, 'usr/bin')], { encoding: 'utf8' })).toBe('');
  });

  it('refuses a fifo source at once', async () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    await expect(writeGuestFile(root, table, '/usr/bin/tool', { copyOf: join(dir, 'fifo') }, 0o755)).rejects.toThrow(/not a regular file/);
    expect(existsSync(join(root, 'usr/bin/tool'))).toBe(false);
  });

  it("follows a symlink only when asked (a recipe's own copy: source), keeps holes, records the mode", async () => {
    writeFileSync(join(dir, 'real'), '');
    truncateSync(join(dir, 'real'), 2 ** 34);
    symlinkSync(join(dir, 'real'), join(dir, 'named'));
    await writeGuestFile(root, table, '/usr/bin/tool', { copyOf: join(dir, 'named'), follow: true }, 0o555);
    const st = statSync(join(root, 'usr/bin/tool'));
    expect(st.size).toBe(2 ** 34);
    expect(st.blocks).toBeLessThan(64);
    expect(table['usr/bin/tool']).toMatchObject({ mode: 0o555 });
  });
});
