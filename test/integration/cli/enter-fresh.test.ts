import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAKE } from '../../helpers/cli.js';

/**
 * `cake enter` on a fresh home (issue 11 item 7), as a plain user: the implicit pull of the
 * default distro from the Debian archive prints nothing on stdout (only the command's own output
 * reaches it), and the counts it reports agree.
 */
describe('cake enter on a fresh home', () => {
  const work = mkdtempSync(join(tmpdir(), 'cake-fresh-'));
  chmodSync(work, 0o755);
  const home = join(work, 'home');
  mkdirSync(home);
  spawnSync('chown', ['65534:65534', home]);

  afterAll(() => {
    spawnSync('chmod', ['-R', 'u+rwX', work]);
    rmSync(work, { recursive: true, force: true });
  });

  it('pulls the default distro quietly on stdout, with consistent counts, then runs the command', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${home}`, 'NO_COLOR=1', CAKE, 'enter', '--', 'echo', 'in the env'], { encoding: 'utf8', cwd: work, timeout: 580_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('in the env\n');
    expect(r.stderr).toMatch(/^debian is not pulled yet; pulling it$/m);
    const resolved = /^resolved (\d+) packages(?: \(\+(\d+) for cake's fakeroot kit\))? /m.exec(r.stderr);
    const downloaded = /^downloaded (\d+) packages /m.exec(r.stderr);
    expect(resolved, r.stderr).not.toBeNull();
    expect(downloaded, r.stderr).not.toBeNull();
    expect(Number(downloaded![1])).toBe(Number(resolved![1]) + Number(resolved![2] ?? 0));
    expect(r.stderr).toMatch(/^created debian from debian: /m);
  }, 600_000);
});
