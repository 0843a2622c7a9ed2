import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRecipe } from '../../../src/cook/recipe-schema.js';
import { formatProblem, RecipeError } from '../../../src/cook/recipe-types.js';
import { bakeOptionsOf } from '../../../src/cook/recipe-image.js';

const FILE = '/work/r/web.yaml';
const parse = (text: string) => parseRecipe(text, FILE, 'web.yaml');
const problems = (text: string) => parse(text).problems.map(formatProblem);

describe('recipe schema', () => {
  it('parses every step kind', () => {
    const { recipe, problems: p } = parse(`
name: web
from: debian:bookworm
steps:
  - run: |
      apt-get update
    cwd: /srv
  - copy: [./site, ../shared/x.conf]
    to: /var/www/
    mode: "0644"
  - add: deb13:/usr/bin/jq
  - add: [./tools.yaml:/usr/bin/gawk, /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12]
  - add:
      nix: nixpkgs#hello
      host: [/usr/bin/bash]
  - env: { LANG: C.UTF-8, PORT: 8080 }
  - path: [/opt/bin, /usr/local/go/bin]
  - file: /etc/motd
    content: "hi\\n"
    mode: 0600
  - user: alice
  - user: { name: bob, uid: 1001, gid: 1001, home: /srv/bob, shell: /bin/bash, groups: [users] }
  - bind: [./data:/data, /tmp]
expect_sha256: sha256:${'ab'.repeat(32)}
host_paths: [../shared, /usr/bin/bash]
`);
    expect(p).toEqual([]);
    expect(recipe).toMatchObject({
      name: 'web',
      from: { kind: 'source', text: 'debian:bookworm', source: { kind: 'distro', distro: 'debian', release: 'bookworm' } },
      expectSha256: 'ab'.repeat(32),
      hostPaths: [{ value: '/work/shared' }, { value: '/usr/bin/bash' }],
    });
    const s = recipe!.steps;
    expect(s.map((x) => x.kind)).toEqual(['run', 'copy', 'add', 'add', 'add', 'env', 'path', 'file', 'user', 'user', 'bind']);
    expect(s[0]).toMatchObject({ script: 'apt-get update\n', cwd: '/srv', at: { line: 5, path: 'steps[0].run' } });
    expect(s[1]).toMatchObject({ sources: [{ value: '/work/r/site' }, { value: '/work/shared/x.conf' }], to: '/var/www/', mode: 0o644 });
    expect(s[2]).toMatchObject({ from: [{ other: { kind: 'env', name: 'deb13' }, path: '/usr/bin/jq' }] });
    expect(s[3]).toMatchObject({ from: [{ other: { kind: 'recipe', file: '/work/r/tools.yaml' }, path: '/usr/bin/gawk' }], nix: [{ value: '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12' }] });
    expect(s[4]).toMatchObject({ nix: [{ value: 'nixpkgs#hello' }], host: [{ value: '/usr/bin/bash' }] });
    expect(s[5]).toMatchObject({ vars: [['LANG', 'C.UTF-8'], ['PORT', '8080']] });
    expect(s[7]).toMatchObject({ path: '/etc/motd', content: 'hi\n', mode: 0o600 });
    expect(s[9]).toMatchObject({ name: 'bob', uid: 1001, home: '/srv/bob', groups: ['users'] });
    expect(s[10]).toMatchObject({ binds: [{ src: '/work/r/data', dst: '/data' }, { src: '/tmp', dst: '/tmp' }] });
  });

  it('takes from: as a recipe, an env or a tarball relative to the recipe', () => {
    expect(parse('from: ./base.yaml\n').recipe?.from).toEqual({ kind: 'recipe', file: '/work/r/base.yaml' });
    expect(parse('from: env:mine\n').recipe?.from).toEqual({ kind: 'env', name: 'mine' });
    expect(parse('from: env:a..b\n').problems?.map((p) => p.message)).toEqual(['invalid env name "a..b"']);
    expect(parse('from: ./rootfs.tar.gz\n').recipe?.from).toMatchObject({ kind: 'source', source: { kind: 'file', path: '/work/r/rootfs.tar.gz' } });
    expect(parse('from: alpine\nsteps:\n').recipe?.steps).toEqual([]);
  });

  it('reports every problem at once, with file, line and key path', () => {
    const text = [
      'name: Web!', // 1
      'form: debian', // 2
      'steps:', // 3
      '  - run: echo', // 4
      '    rn: typo', // 5
      '  - run: 5', // 6
      '  - run: [a]', // 7
      '  - copy: ./x', // 8
      '  - file: etc/motd', // 9
      '    content: hi', // 10
      '    mode: rw', // 11
      '  - add: nothing-here', // 12
      '  - add: { from: "Bad Name:/x" }', // 13
      '  - env: { 1X: a, Y: [1] }', // 14
      '  - user: { uid: -1 }', // 15
      '  - bind: ./d:rel', // 16
      '  - run: a', // 17
      '    copy: b', // 18
      '  - frobnicate: x', // 19
      '  - path: relative', // 20
      '  - just a string', // 21
      'expect_sha256: abc', // 22
    ].join('\n');
    expect(problems(text)).toEqual([
      'web.yaml:1 from: missing',
      'web.yaml:1 name: expected an env name: 1-63 of a-z, 0-9, ".", "_", "-", starting with a letter or digit',
      'web.yaml:2 form: unknown key (expected one of: name, from, steps, expect_sha256, host_paths, image)',
      'web.yaml:5 steps[0].rn: unknown key (expected one of: run, cwd)',
      'web.yaml:6 steps[1].run: expected a string (quote it: "5")',
      'web.yaml:7 steps[2].run: expected a string',
      'web.yaml:8 steps[3].to: missing',
      'web.yaml:9 steps[4].file: expected an absolute path in the env, found "etc/motd"',
      'web.yaml:11 steps[4].mode: expected an octal mode such as "0644"',
      'web.yaml:12 steps[5].add: expected OTHER:/PATH (an env or recipe, then an absolute path), found "nothing-here"',
      'web.yaml:13 steps[6].add.from: "Bad Name" is neither an env name nor a recipe file (*.yaml)',
      'web.yaml:14 steps[7].env["1X"]: expected a variable name (letters, digits, _)',
      'web.yaml:14 steps[7].env.Y: expected a string',
      'web.yaml:15 steps[8].user.name: missing',
      'web.yaml:15 steps[8].user.uid: expected an integer from 0 to 4294967294',
      'web.yaml:16 steps[9].bind: invalid bind "./d:rel": the destination must be an absolute guest path',
      'web.yaml:17 steps[10]: a step has one kind, found run and copy; write them as separate steps',
      'web.yaml:19 steps[11]: a step needs one of: run, copy, add, env, path, file, user, bind (found frobnicate)',
      'web.yaml:20 steps[12].path: expected an absolute directory without \':\', found "relative"',
      'web.yaml:21 steps[13]: expected a mapping with one of: run, copy, add, env, path, file, user, bind',
      'web.yaml:22 expect_sha256: expected 64 lowercase hex digits (optionally "sha256:" first)',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their line', () => {
    expect(problems('from: a\nfrom: b\n')[0]).toMatch(/^web\.yaml:2 \(yaml\): /);
    expect(problems('from: [a\n')[0]).toMatch(/^web\.yaml:\d \(yaml\): /);
    expect(problems('- a\n')).toEqual(['web.yaml:1 (top): expected a mapping']);
    expect(problems('from: "docker://"\n')).toEqual(['web.yaml:1 from: invalid SOURCE "docker://": no image reference after docker://']);
  });

  it('RecipeError lists all problems in one message, exit code 2', () => {
    const err = new RecipeError(parse('steps: 3\n').problems);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('2 problems in the recipe:\nweb.yaml:1 from: missing\nweb.yaml:1 steps: expected a list of steps');
  });

  it('takes from: as a Debian/Ubuntu release with the options of cake pull', () => {
    expect(parse('from:\n  source: debian:bookworm\n  packages: [openssh-server, nginx-light, cron=3.0pl1-162, nginx/bookworm-backports]\n  variant: minbase\n  recommends: false\n  allow_expired: true\n').recipe?.from).toEqual({
      kind: 'source',
      text: 'debian:bookworm',
      source: { kind: 'distro', distro: 'debian', release: 'bookworm' },
      pull: { packages: ['openssh-server', 'nginx-light', 'cron=3.0pl1-162', 'nginx/bookworm-backports'], variant: 'minbase', recommends: false, allowExpired: true },
    });
    expect(parse('from: { source: debian:sid, allow_expired: false }\n').recipe?.from).toEqual({ kind: 'source', text: 'debian:sid', source: { kind: 'distro', distro: 'debian', release: 'sid' } });
    expect(parse('from: { source: ubuntu:noble }\n').recipe?.from).toEqual({ kind: 'source', text: 'ubuntu:noble', source: { kind: 'distro', distro: 'ubuntu', release: 'noble' } });
    expect(problems('from:\n  source: ./rootfs.tar.gz\n  packages: [a]\n')).toEqual([
      'web.yaml:2 from.source: packages, variant, recommends and allow_expired apply to a Debian or Ubuntu release (such as debian:bookworm); write other bases as from: SOURCE',
    ]);
    expect(problems('from:\n  source: debian:bookworm\n  packages: ["Bad Name"]\n  variant: huge\n  recommends: maybe\n  mirror: x\n  allow_expired: 1\n')).toEqual([
      'web.yaml:3 from.packages[0]: expected a Debian package name (optionally :ARCH, and =VERSION or /SUITE), found "Bad Name"',
      'web.yaml:4 from.variant: expected one of: essential, minbase, standard, buildd',
      'web.yaml:5 from.recommends: expected true or false',
      'web.yaml:6 from.mirror: unknown key (expected one of: source, packages, variant, recommends, allow_expired)',
      'web.yaml:7 from.allow_expired: expected true or false',
    ]);
    expect(problems('from: { packages: [a] }\n')).toEqual(['web.yaml:1 from.source: missing']);
  });

  it('confines copy: and add: { host: } to the recipe directory unless host_paths: lists the path', () => {
    expect(problems('from: alpine\nsteps:\n  - copy: /etc/shadow\n    to: /x\n  - copy: ../../../../etc/shadow\n    to: /y\n  - add: { host: /usr/bin/env }\n  - copy: ./site/../site\n    to: /z/\n')).toEqual([
      "web.yaml:3 steps[0].copy: /etc/shadow is outside the recipe's directory /work/r: a recipe reads only its own directory, unless the path is listed under host_paths:",
      "web.yaml:5 steps[1].copy: /etc/shadow is outside the recipe's directory /work/r: a recipe reads only its own directory, unless the path is listed under host_paths:",
      "web.yaml:7 steps[2].add.host: /usr/bin/env is outside the recipe's directory /work/r: a recipe reads only its own directory, unless the path is listed under host_paths:",
    ]);
    // a sibling directory whose name starts like the recipe's is outside too
    expect(problems('from: alpine\nsteps:\n  - copy: ../r-secrets/key\n    to: /k\n')).toHaveLength(1);
    expect(problems('from: alpine\nhost_paths: [/etc/ssl/certs, ../shared, /usr/bin/env]\nsteps:\n  - copy: /etc/ssl/certs/ca.pem\n    to: /x\n  - copy: ../shared/a/b\n    to: /y\n  - add: { host: /usr/bin/env }\n')).toEqual([]);
    expect(problems('from: alpine\nhost_paths: [/etc/ssl/certs]\nsteps:\n  - copy: /etc/ssl/certsX\n    to: /x\n')).toHaveLength(1);
  });

  it('parses the image: section with the meanings of the cake bake options, strictly', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0cake me@laptop';
    const r = parse(`from: alpine\nimage:\n  hostname: web-1\n  size: 2G\n  boot: efi\n  format: qcow2\n  kernel: debian:trixie/linux-image-cloud-amd64\n  keys: ["${key}"]\n  cmdline: quiet loglevel=3\n`);
    expect(r.problems.map(formatProblem)).toEqual([]);
    expect(r.recipe?.image).toEqual({ hostname: 'web-1', size: 2 * 1024 ** 3, boot: 'efi', format: 'qcow2', kernel: { kind: 'debian', release: 'trixie', package: 'linux-image-cloud-amd64' }, keys: [key], cmdline: ['quiet', 'loglevel=3'] });
    expect(bakeOptionsOf(r.recipe!.image, 'web', '/out/web.qcow2', true, {})).toMatchObject({ env: 'web', output: '/out/web.qcow2', format: 'qcow2', bios: false, efi: true, size: 2 * 1024 ** 3, hostname: 'web-1', sshKeys: `${key}\n`, cmdline: ['quiet', 'loglevel=3'] });
    expect(bakeOptionsOf(undefined, 'my_env', 'x.img', true, { SOURCE_DATE_EPOCH: '1700000000' })).toMatchObject({ format: 'raw', bios: true, efi: true, size: 'auto', hostname: 'my-env', kernel: { kind: 'debian' }, sourceDateEpoch: 1700000000 });
    expect(parse('from: alpine\nimage: { kernel: ./bzImage }\n').recipe?.image?.kernel).toEqual({ kind: 'path', path: '/work/r/bzImage' });
    expect(problems('from: alpine\nimage:\n  hostname: "bad host"\n  size: lots\n  boot: floppy\n  format: vdi\n  keys: [/home/me/.ssh/id_ed25519]\n  kernel: /boot/vmlinuz\n  ram: 4G\n')).toEqual([
      "web.yaml:3 image.hostname: invalid value 'bad host'",
      "web.yaml:4 image.size: invalid value 'lots'",
      'web.yaml:5 image.boot: expected one of: bios, efi, both',
      'web.yaml:6 image.format: expected one of: raw, qcow2',
      'web.yaml:7 image.keys[0]: expected an SSH public key line (ssh-ed25519 AAAA… comment); give the key itself, not a file or a private key',
      "web.yaml:8 image.kernel: /boot/vmlinuz is outside the recipe's directory /work/r: a recipe reads only its own directory, unless the path is listed under host_paths:",
      'web.yaml:9 image.ram: unknown key (expected one of: hostname, size, boot, format, kernel, keys, cmdline)',
    ]);
  });

  it('accepts every recipe in examples/', () => {
    const dir = join(import.meta.dirname, '../../../examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(parseRecipe(readFileSync(join(dir, f), 'utf8'), join(dir, f), `examples/${f}`).problems.map(formatProblem)).toEqual([]);
  });
});
