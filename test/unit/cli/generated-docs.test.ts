import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../../../src/cli/gen-docs.js';
import { COMMANDS } from '../../../src/cli/command-table.js';
import { readVersion, PACKAGE_ROOT } from '../../../src/cli/context.js';
import { missingCommands } from '../../helpers/tools.js';

describe('generated man page and completions', () => {
  const files = generatedFiles(readVersion());

  for (const [rel, text] of Object.entries(files)) {
    it(`${rel} is up to date with the command table (run \`npm run gen\` when this fails)`, () => {
      expect(readFileSync(join(PACKAGE_ROOT, rel), 'utf8')).toBe(text);
    });
  }

  it('mention every command and every long option', () => {
    for (const c of COMMANDS) {
      expect(files['man/cake.1']).toContain(`cake ${c.name}`);
      // a case pattern per command, with its aliases: `enter|login|shell)`
      expect(files['completions/cake.bash']).toMatch(new RegExp(`^    ${c.name}[|)]`, 'm'));
      for (const o of c.options) {
        const flag = /--[a-z0-9-]+/.exec(o.flags)![0];
        expect(files['completions/cake.fish']).toContain(`-l ${flag.slice(2)}`);
        expect(files['completions/_cake']).toContain(flag);
      }
    }
  });

  it('the bash completion is valid bash', async () => {
    const { execFileSync } = await import('node:child_process');
    expect(() => execFileSync('bash', ['-n', join(PACKAGE_ROOT, 'completions/cake.bash')])).not.toThrow();
  });

  /** The man page's text between `.SH TITLE` and the next `.SH`. */
  const section = (title: string): string => {
    const man = files['man/cake.1']!;
    const start = man.indexOf(`.SH ${title}\n`);
    expect(start, title).toBeGreaterThan(0);
    const end = man.indexOf('\n.SH ', start + 1);
    return man.slice(start, end < 0 ? undefined : end).replace(/\\-/g, '-');
  };

  it('ENVIRONMENT names every variable the source reads (#11.22)', () => {
    const src = (dir: string): string[] => readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
    const text = src(join(PACKAGE_ROOT, 'src')).join('\n');
    // variables cake sets for the guest or for proot, never read from the user's environment
    const setForTheGuest = new Set(['PROOT_LOADER', 'PROOT_LOADER_', 'PROOT_LOADER_32', 'PROOT_NO_SECCOMP', 'LD_PRELOAD', 'LANG', 'PATH']);
    // constants, not variables: bake's /usr/lib/cake, the recorder's .cake top dir, the userns
    // setup's fstab here-document end, the download's too-slow error marker
    const notVariables = new Set(['CAKE_LIB', 'CAKE_TOP', 'CAKE_FSTAB_END', 'CAKE_TOO_SLOW']);
    const read = new Set([...text.matchAll(/\bCAKE_[A-Z][A-Z_]*[A-Z]\b/g)].map((m) => m[0]).filter((v) => !notVariables.has(v)));
    for (const m of text.matchAll(/\benv\.([A-Z][A-Z0-9_]{2,})\b/g)) if (!setForTheGuest.has(m[1]!)) read.add(m[1]!);
    expect(read.size).toBeGreaterThan(20);
    const env = section('ENVIRONMENT');
    const documented = new Set([...env.matchAll(/^\.B (.*)$/gm)].flatMap((m) => m[1]!.split(/,\s*|\s+/)));
    expect([...read].filter((v) => !documented.has(v)).sort()).toEqual([]);
    for (const v of ['CAKE_PROOT', 'CAKE_BOOT_ACCEL', 'CAKE_BOOT_FIRMWARE', 'CAKE_BAKE_SEED', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG', 'XDG_RUNTIME_DIR', 'TMPDIR']) expect(documented.has(v), v).toBe(true);
  });

  it('FILES lists the credential files podman, skopeo and docker write, completions and man pages; SEE ALSO the peers (#11.22)', () => {
    const f = section('FILES');
    for (const p of ['/tmp/podman-run-UID/containers/auth.json', '/run/user/UID/containers/auth.json', '~/.config/containers/auth.json', '~/.docker/config.json', '~/.config/cake/config.json',
      'bash-completion/completions/cake', 'site-functions/_cake', 'cake.fish', 'man1/cake.1', 'man5/cake-recipe.5']) expect(f).toContain(p);
    const see = section('SEE ALSO');
    for (const p of ['cake-recipe(5)', 'podman(1)', 'skopeo(1)', 'umoci(1)', 'containers-auth.json(5)', 'distrobox(1)', 'proot(1)']) expect(see).toContain(p);
    expect(files['man/cake.1']).toMatch(/^\.TH CAKE 1 "\d{4}-\d\d-\d\d" "cake /);
  });

  it.skipIf(missingCommands('man'))('the man pages are ASCII, and man under the POSIX locale renders them without a warning (#11.22)', () => {
    for (const page of ['man/cake.1', 'man/cake-recipe.5']) {
      expect(/[^\x00-\x7f]/.exec(files[page]!)?.[0], page).toBeUndefined();
      const r = spawnSync('man', ['-l', join(PACKAGE_ROOT, page)], { encoding: 'utf8', env: { PATH: process.env.PATH, LC_ALL: 'C', MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } });
      expect([r.status, r.stderr], page).toEqual([0, '']);
      expect(r.stdout).toMatch(page.endsWith('.1') ? /SEE ALSO/ : /NAME/);
    }
  });
});
