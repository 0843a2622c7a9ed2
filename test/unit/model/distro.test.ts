import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CakeError } from '../../../src/model/errors.js';
import {
  DistroDefinitionError,
  findRelease,
  isArchiveAlias,
  releaseKnown,
  parseDistro,
  parseDistros,
  selectSource,
  type DistroDef,
} from '../../../src/model/distro.js';
import { loadDistros } from '../../../src/store/distros.js';

const DISTROS_DIR = fileURLToPath(new URL('../../../distros', import.meta.url));

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

const SAMPLE = `name: demo
description: Demo Linux
aliases: [dm]
default: "1.0"
releases:
  "1.0":
    aliases: [latest, stable]
    sources:
      - kind: archive
        keyring: debian
        variant: minbase
        components: [main]
        arch: [x86_64, aarch64]
        repos:
          - mirror: { x86_64: http://a.example/debian, aarch64: http://ports.example/debian }
            suites: [one, one-updates]
          - mirror: http://sec.example/debian-security
            suites: [one-security]
      - kind: tarball
        strip: 1
        arch:
          x86_64: { url: https://example.com/x.tar.xz, sha256: ${SHA_A} }
          riscv64: { url: https://example.com/r.tar.xz, sha256: ${SHA_B} }
      - kind: registry
        image: docker.io/library/demo:1.0@sha256:${SHA_A}
  "0.9":
    description: old
    sources:
      - kind: tarball
        arch:
          aarch64: { url: https://example.com/a.tar.gz, sha256: ${SHA_B} }
`;

function problemsOf(text: string, file = 'distros/demo.yaml'): string[] {
  try {
    parseDistro(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(DistroDefinitionError);
    return (err as DistroDefinitionError).problems.map((p) => `${p.file}:${p.line} ${p.path}: ${p.message}`);
  }
  throw new Error('expected a DistroDefinitionError');
}

describe('the shipped distros/*.yaml', () => {
  it('all parse, with well-formed pins, https tarballs and unique names', async () => {
    const defs = await loadDistros(DISTROS_DIR);
    expect(defs.map((d) => d.name)).toEqual(['alpine', 'archlinux', 'debian', 'fedora', 'opensuse', 'ubuntu', 'void']);
    for (const d of defs) {
      for (const r of d.releases) {
        for (const s of r.sources) {
          if (s.kind !== 'tarball') continue;
          for (const pin of Object.values(s.arch)) {
            expect(pin.sha256).toMatch(/^[0-9a-f]{64}$/);
            expect(pin.url).toMatch(/^https:\/\//);
          }
        }
      }
    }
  });

  it.each(['alpine', 'debian', 'archlinux', 'fedora', 'void', 'opensuse'])(
    '%s has a tarball for x86_64 and aarch64 in its default release',
    async (name) => {
      const defs = await loadDistros(DISTROS_DIR);
      const { release } = findRelease(defs, name);
      for (const arch of ['x86_64', 'aarch64']) {
        const s = selectSource(release, arch, ['tarball']);
        expect(s.kind).toBe('tarball');
        if (s.kind === 'tarball') expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
    },
  );

  it('defaults to the current Debian stable and Ubuntu LTS, whose aliases follow the archive', async () => {
    const defs = await loadDistros(DISTROS_DIR);
    expect(findRelease(defs, 'debian').release.name).toBe('trixie');
    expect(findRelease(defs, 'ubuntu').release.name).toBe('resolute');
    const debian = defs.find((d) => d.name === 'debian')!;
    const ubuntu = defs.find((d) => d.name === 'ubuntu')!;
    expect(debian.archiveAliases?.suites).toEqual(['stable', 'oldstable', 'oldoldstable', 'testing', 'unstable']);
    expect(ubuntu.archiveAliases).toEqual({ suites: [], lts: 'lts' });
    expect(isArchiveAlias(debian, 'stable') && isArchiveAlias(ubuntu, 'lts') && !isArchiveAlias(debian, 'trixie')).toBe(true);
    // no release hard-codes what the archive decides
    const err = (() => {
      try {
        findRelease(defs, 'debian', 'stable');
      } catch (e) {
        return e as CakeError;
      }
      throw new Error('expected a CakeError');
    })();
    expect(err.hint).toContain('from the archive: stable, oldstable');
    expect(releaseKnown(defs, 'debian', 'stable') && releaseKnown(defs, 'ubuntu', 'lts') && releaseKnown(defs, 'debian', '12')).toBe(true);
    expect(releaseKnown(defs, 'debian', 'bogus') || releaseKnown(defs, 'nodistro')).toBe(false);
    for (const arch of ['x86_64', 'aarch64']) {
      const s = selectSource(findRelease(defs, 'ubuntu').release, arch, ['archive', 'tarball']);
      expect(s.kind === 'archive' && s.suites.map((x) => x.suite)).toEqual(['resolute', 'resolute-updates', 'resolute-security']);
    }
  });

  it('checks archive-aliases: known keys, names not taken by a release', () => {
    const withAliases = (block: string): string[] => problemsOf(SAMPLE.replace('releases:', `${block}\nreleases:`));
    expect(parseDistro(SAMPLE.replace('releases:', 'archive-aliases:\n  suites: [testing]\n  lts: lts\nreleases:'), 'distros/demo.yaml').archiveAliases).toEqual({ suites: ['testing'], lts: 'lts' });
    expect(withAliases('archive-aliases:\n  suites: [latest]').join('\n')).toContain('"latest" already names a release or a release alias');
    expect(withAliases('archive-aliases:\n  codenames: [x]').join('\n')).toContain('archive-aliases.codenames: unknown key (expected one of: suites, lts)');
    expect(withAliases('archive-aliases: {}').join('\n')).toContain('expected suites or lts');
  });

  it('prefers the upstream Alpine minirootfs and the Debian archive', async () => {
    const defs = await loadDistros(DISTROS_DIR);
    const alpine = selectSource(findRelease(defs, 'alpine').release, 'x86_64', ['tarball']);
    expect(alpine).toMatchObject({ kind: 'tarball', strip: 0 });
    expect(alpine.kind === 'tarball' && alpine.url).toContain('dl-cdn.alpinelinux.org');
    const debian = selectSource(findRelease(defs, 'debian', 'trixie').release, 'arm64', ['archive', 'tarball']);
    expect(debian).toMatchObject({ kind: 'archive', debianArch: 'arm64', keyring: 'debian', variant: 'minbase' });
    expect(debian.kind === 'archive' && debian.suites[0]).toEqual({ mirror: 'http://deb.debian.org/debian', suite: 'trixie' });
    const ubuntu = selectSource(findRelease(defs, 'ubuntu').release, 'aarch64', ['archive']);
    expect(ubuntu.kind === 'archive' && ubuntu.suites.map((s) => s.mirror)).toEqual(Array(3).fill('http://ports.ubuntu.com/ubuntu-ports'));
  });
});

describe('parseDistro', () => {
  it('parses the schema, normalising archive mirrors per arch', () => {
    const d = parseDistro(SAMPLE, 'distros/demo.yaml');
    expect(d).toMatchObject({ name: 'demo', aliases: ['dm'], default: '1.0', file: 'distros/demo.yaml' });
    expect(d.releases.map((r) => r.name)).toEqual(['1.0', '0.9']);
    const [archive, tarball, registry] = d.releases[0]!.sources;
    expect(archive).toEqual({
      kind: 'archive', keyring: 'debian', variant: 'minbase', components: ['main'], arch: ['x86_64', 'aarch64'],
      repos: [
        { mirror: { x86_64: 'http://a.example/debian', aarch64: 'http://ports.example/debian' }, suites: ['one', 'one-updates'] },
        { mirror: { x86_64: 'http://sec.example/debian-security', aarch64: 'http://sec.example/debian-security' }, suites: ['one-security'] },
      ],
    });
    expect(tarball).toMatchObject({ kind: 'tarball', strip: 1 });
    expect(registry).toEqual({ kind: 'registry', image: `docker.io/library/demo:1.0@sha256:${SHA_A}` });
    expect(d.releases[1]).toMatchObject({ description: 'old', aliases: [], sources: [{ kind: 'tarball', strip: 0 }] });
  });

  it('reports unknown keys, wrong types and bad sha256 all at once, with file:line and key path', () => {
    const text = SAMPLE
      .replace('description: Demo Linux', 'description: Demo Linux\ncolour: blue')
      .replace('strip: 1', 'strip: "one"')
      .replace(`sha256: ${SHA_B} }`, 'sha256: abc }')
      .replace('    description: old', '    description: old\n    eol: 2020');
    expect(problemsOf(text)).toEqual([
      'distros/demo.yaml:3 colour: unknown key (expected one of: name, description, aliases, default, archive-aliases, releases)',
      'distros/demo.yaml:21 releases["1.0"].sources[1].strip: expected an integer from 0 to 16',
      'distros/demo.yaml:24 releases["1.0"].sources[1].arch.riscv64.sha256: expected 64 lowercase hex digits',
      'distros/demo.yaml:29 releases["0.9"].eol: unknown key (expected one of: description, aliases, sources)',
    ]);
  });

  it('reports a bad sha256 with its line and path', () => {
    const text = SAMPLE.replace(`riscv64: { url: https://example.com/r.tar.xz, sha256: ${SHA_B} }`, 'riscv64: { url: https://example.com/r.tar.xz, sha256: abc }');
    expect(problemsOf(text)).toEqual(['distros/demo.yaml:23 releases["1.0"].sources[1].arch.riscv64.sha256: expected 64 lowercase hex digits']);
    const upper = SAMPLE.replace(`sha256: ${SHA_B} }`, `sha256: ${SHA_B.toUpperCase()} }`);
    expect(problemsOf(upper)).toEqual(['distros/demo.yaml:23 releases["1.0"].sources[1].arch.riscv64.sha256: expected 64 lowercase hex digits']);
  });

  it('wants quoted release names and string values', () => {
    const text = SAMPLE.replace('  "0.9":', '  3.10:').replace('default: "1.0"', 'default: 1.0');
    expect(problemsOf(text)).toEqual([
      'distros/demo.yaml:4 default: expected a string (quote it: "1.0")',
      'distros/demo.yaml:26 releases: expected a string key (quote it: "3.10")',
    ]);
  });

  it('checks names, defaults, aliases, arches, URLs and kinds', () => {
    const text = SAMPLE
      .replace('name: demo', 'name: other')
      .replace('default: "1.0"', 'default: latest')
      .replace('aliases: [latest, stable]', 'aliases: [latest, "0.9"]')
      .replace('riscv64: { url', 'sparc: { url')
      .replace('http://sec.example/debian-security', 'ftp://sec.example/x')
      .replace('kind: registry', 'kind: registri')
      .replace('x86_64: { url: https://example.com/x.tar.xz', 'x86_64: { url: http://example.com/x.tar.xz');
    expect(problemsOf(text)).toEqual([
      'distros/demo.yaml:1 name: expected "demo" (the file\'s name)',
      'distros/demo.yaml:7 releases["1.0"].aliases: "0.9" already names release 0.9',
      'distros/demo.yaml:17 releases["1.0"].sources[0].repos[1].mirror: expected a plain http or https URL',
      'distros/demo.yaml:22 releases["1.0"].sources[1].arch.x86_64.url: expected a plain https URL',
      'distros/demo.yaml:23 releases["1.0"].sources[1].arch.sparc: unknown arch (known: x86_64, aarch64, armv7, i686, riscv64, ppc64le, s390x)',
      'distros/demo.yaml:24 releases["1.0"].sources[2].kind: expected one of: tarball, registry, archive',
      'distros/demo.yaml:4 default: expected one of the releases: 1.0, 0.9',
    ]);
  });

  it('reports missing keys, a mirror map that misses an arch, an unpinned image and YAML syntax errors', () => {
    expect(problemsOf('name: demo\ndescription: x\n')).toEqual([
      'distros/demo.yaml:1 default: missing',
      'distros/demo.yaml:1 releases: missing',
    ]);
    const text = SAMPLE
      .replace('mirror: { x86_64: http://a.example/debian, aarch64: http://ports.example/debian }', 'mirror: { x86_64: http://a.example/debian }')
      .replace(`demo:1.0@sha256:${SHA_A}`, 'demo:1.0');
    expect(problemsOf(text)).toEqual([
      'distros/demo.yaml:15 releases["1.0"].sources[0].repos[0].mirror: no mirror for aarch64',
      'distros/demo.yaml:25 releases["1.0"].sources[2].image: invalid image (HOST/REPO[:TAG]@sha256:DIGEST, digest required) "docker.io/library/demo:1.0"',
    ]);
    const [syntax] = problemsOf('name: demo\nname: again\n');
    expect(syntax).toMatch(/^distros\/demo\.yaml:2 \(yaml\): /);
    expect(problemsOf('- just a list\n')).toEqual(['distros/demo.yaml:1 (top): expected a mapping']);
  });

  it('gives one CakeError whose message lists every problem', () => {
    const err = (() => {
      try {
        parseDistro('name: demo\nfoo: 1\n', 'demo.yaml');
      } catch (e) {
        return e as CakeError;
      }
    })();
    expect(err).toBeInstanceOf(CakeError);
    expect(err?.code).toBe('bad-source');
    expect(err?.message).toContain('4 problems');
    expect(err?.message).toContain('demo.yaml:2 foo: unknown key');
  });
});

describe('loadDistros and parseDistros', () => {
  it('reads *.yaml only, sorted, and reports problems of every file together', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cake-distros-'));
    try {
      writeFileSync(join(dir, 'demo.yaml'), SAMPLE);
      writeFileSync(join(dir, 'README.md'), '# not yaml');
      expect((await loadDistros(dir)).map((d) => d.name)).toEqual(['demo']);
      writeFileSync(join(dir, 'demo.yaml'), SAMPLE.replace('strip: 1', 'strip: -1'));
      writeFileSync(join(dir, 'b.yaml'), 'name: b\n');
      const err = await loadDistros(dir).catch((e) => e);
      expect(err).toBeInstanceOf(DistroDefinitionError);
      expect((err as DistroDefinitionError).problems.map((p) => p.file)).toEqual([join(dir, 'b.yaml'), join(dir, 'b.yaml'), join(dir, 'b.yaml'), join(dir, 'demo.yaml')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a name or alias defined twice', () => {
    const twin = SAMPLE.replace('name: demo', 'name: dm').replace('aliases: [dm]', 'aliases: [demo]');
    let err: unknown;
    try {
      parseDistros([
        { file: '/d/demo.yaml', text: SAMPLE },
        { file: '/d/dm.yaml', text: twin },
      ]);
    } catch (e) {
      err = e;
    }
    expect((err as DistroDefinitionError).problems.map((p) => p.message)).toEqual([
      '"dm" is also defined by /d/demo.yaml',
      '"demo" is also defined by /d/demo.yaml',
    ]);
  });

  it('says when the directory is missing', async () => {
    const err = await loadDistros('/nonexistent/distros').catch((e) => e);
    expect(err).toMatchObject({ code: 'not-found' });
  });
});

describe('findRelease and selectSource', () => {
  const defs: DistroDef[] = [parseDistro(SAMPLE, 'demo.yaml')];

  it('resolves the default, release names, aliases and distro aliases', () => {
    expect(findRelease(defs, 'demo').release.name).toBe('1.0');
    expect(findRelease(defs, 'demo', '0.9').release.name).toBe('0.9');
    expect(findRelease(defs, 'demo', 'stable').release.name).toBe('1.0');
    expect(findRelease(defs, 'dm', 'latest')).toMatchObject({ distro: { name: 'demo' }, release: { name: '1.0' } });
  });

  it('lists what exists when a distro or release is unknown', () => {
    expect(() => findRelease(defs, 'nope')).toThrow(expect.objectContaining({
      code: 'not-found', message: 'unknown distro: nope', hint: expect.stringContaining('known distros: demo; `cake distros`'),
    }));
    expect(() => findRelease(defs, 'demo', '2.0')).toThrow(expect.objectContaining({
      code: 'not-found', hint: 'demo releases: 1.0 (latest, stable), 0.9; see `cake distros`',
    }));
  });

  it('picks the first source of a supported kind that serves the arch', () => {
    const r = findRelease(defs, 'demo').release;
    expect(selectSource(r, 'x86_64', ['tarball'])).toEqual({ kind: 'tarball', arch: 'x86_64', strip: 1, url: 'https://example.com/x.tar.xz', sha256: SHA_A });
    expect(selectSource(r, 'linux/amd64', ['archive', 'tarball'])).toMatchObject({
      kind: 'archive', debianArch: 'amd64', suites: [
        { mirror: 'http://a.example/debian', suite: 'one' },
        { mirror: 'http://a.example/debian', suite: 'one-updates' },
        { mirror: 'http://sec.example/debian-security', suite: 'one-security' },
      ],
    });
    // No tarball for aarch64, but the registry image lets the registry pick the platform.
    expect(selectSource(r, 'arm64', ['tarball', 'registry'])).toEqual({ kind: 'registry', arch: 'aarch64', image: `docker.io/library/demo:1.0@sha256:${SHA_A}` });
  });

  it('says which arches and kinds exist when nothing fits', () => {
    const r = findRelease(defs, 'demo').release;
    expect(() => selectSource(r, 'aarch64', ['tarball'])).toThrow(expect.objectContaining({
      code: 'not-found',
      message: 'release 1.0 has no tarball source for aarch64',
      hint: expect.stringContaining('x86_64, aarch64 (archive, not supported yet); x86_64, riscv64 (tarball); any arch (registry, not supported yet)'),
    }));
    expect(() => selectSource(r, 'sparc', ['tarball'])).toThrow(CakeError);
  });
});
