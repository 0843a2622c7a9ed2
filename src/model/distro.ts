/**
 * Distro definitions: one YAML file per distro in distros/, parsed strictly. Schema:
 *
 *   name: alpine                  # required; equals the file's base name; [a-z0-9][a-z0-9-]*
 *   description: Alpine Linux     # required
 *   aliases: [alp]                # optional other names for the distro (unique across all files)
 *   default: "3.22"               # required; a release name (not an alias)
 *   archive-aliases:              # optional (Debian/Ubuntu): release aliases read from the archive
 *     suites: [stable, testing]   # dists/NAME/InRelease of the default release's mirror: its Codename
 *     lts: lts                    # the newest release whose InRelease says Version: YY.04, YY even
 *   releases:                     # required; release name -> release, in preference order
 *     "3.22":                     # quote numeric names: YAML reads 3.10 as the number 3.1
 *       description: 3.22.6       # optional
 *       aliases: [latest, stable] # optional; unique within the distro, never a release name
 *       sources:                  # required; tried in order, first usable one for the arch wins
 *         - kind: tarball
 *           strip: 0              # optional (default 0), like tar --strip-components
 *           arch:                 # distro arch -> pinned download (https only)
 *             x86_64: { url: https://…, sha256: <64 hex> }
 *         - kind: registry
 *           image: docker.io/library/alpine:3.22.2@sha256:<index digest>   # digest required
 *           arch: [x86_64, aarch64]   # optional; absent = let the registry pick by platform
 *         - kind: archive         # a Debian/Ubuntu archive, bootstrapped by cake
 *           keyring: debian       # debian | ubuntu: the archive keyring that verifies InRelease
 *           variant: minbase      # essential | minbase | standard | buildd
 *           components: [main]
 *           arch: [x86_64, aarch64]
 *           repos:                # the first suite of the first repo is the release's own suite
 *             - mirror: http://deb.debian.org/debian     # or a map arch -> URL covering `arch`
 *               suites: [bookworm, bookworm-updates]
 *
 * Arch names are the distro ones (x86_64, aarch64, armv7, i686, riscv64, ppc64le, s390x; see
 * platform.ts). Unknown keys, wrong types and bad values are errors; all of a file's problems are
 * reported together, each as `file:line key.path: message`.
 */
import type { Variant } from './names.js';
import { LineCounter, parseDocument } from 'yaml';
import { CakeError } from './errors.js';
import { fromDistroArch, isDistroArch, parsePlatform, toDebianArch, toDistroArch, type DistroArch } from './platform.js';
import { checkDoc, type Problem } from './distro-check.js';

export type { Problem as DistroProblem } from './distro-check.js';

export interface TarballSourceDef {
  kind: 'tarball';
  strip: number;
  arch: Partial<Record<DistroArch, { url: string; sha256: string }>>;
}
export interface RegistrySourceDef {
  kind: 'registry';
  image: string;
  arch?: DistroArch[];
}
export interface ArchiveRepoDef {
  /** One mirror URL per arch of the source (a single URL in the file is spread over all of them). */
  mirror: Partial<Record<DistroArch, string>>;
  suites: string[];
}
export interface ArchiveSourceDef {
  kind: 'archive';
  keyring: 'debian' | 'ubuntu';
  variant: Variant;
  components: string[];
  arch: DistroArch[];
  repos: ArchiveRepoDef[];
}
export type SourceDef = TarballSourceDef | RegistrySourceDef | ArchiveSourceDef;
export type SourceDefKind = SourceDef['kind'];

export interface ReleaseDef {
  name: string;
  description?: string;
  aliases: string[];
  sources: SourceDef[];
}
/** Release aliases that follow the archive (resolved by src/pull/release-alias.ts). */
export interface ArchiveAliasesDef {
  /** Suite names whose InRelease Codename names the release (Debian's stable, testing, …). */
  suites: string[];
  /** The alias of the newest LTS release (Ubuntu: Version YY.04 with YY even). */
  lts?: string;
}
export interface DistroDef {
  name: string;
  description: string;
  aliases: string[];
  default: string;
  archiveAliases?: ArchiveAliasesDef;
  releases: ReleaseDef[];
  /** The file it was read from, for messages. */
  file: string;
}

/** A definition file (or set of files) that failed to parse; `problems` lists every problem. */
export class DistroDefinitionError extends CakeError {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    const lines = problems.map((p) => `${p.file}:${p.line} ${p.path}: ${p.message}`);
    const head = problems.length === 1 ? lines[0]! : `${problems.length} problems:\n  ${lines.join('\n  ')}`;
    super('bad-source', `invalid distro definition: ${head}`, {
      hint: 'fix the definition file; its schema is documented at the top of src/model/distro.ts',
    });
    this.name = 'DistroDefinitionError';
    this.problems = problems;
  }
}

/** Parses one definition. `file` names it in messages (and its base name must equal `name:`). */
export function parseDistro(text: string, file: string): DistroDef {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const { def, problems } = checkDoc(doc, file, lineCounter);
  if (problems.length > 0 || def === undefined) throw new DistroDefinitionError(problems);
  return def;
}

/** One definition file's name and text, as the distros/ directory gives them. */
export interface DistroFile {
  file: string;
  text: string;
}

/**
 * Parses every definition (the caller, store/distros.ts, reads distros/). Problems of all files
 * are reported together; distro names and aliases must be unique across files. Pure.
 */
export function parseDistros(files: readonly DistroFile[]): DistroDef[] {
  const defs: DistroDef[] = [];
  const problems: Problem[] = [];
  for (const { file, text } of files) {
    try {
      defs.push(parseDistro(text, file));
    } catch (err) {
      if (!(err instanceof DistroDefinitionError)) throw err;
      problems.push(...err.problems);
    }
  }
  const owner = new Map<string, DistroDef>();
  for (const d of defs) {
    for (const n of [d.name, ...d.aliases]) {
      const other = owner.get(n);
      if (other) problems.push({ file: d.file, line: 1, path: 'name', message: `${JSON.stringify(n)} is also defined by ${other.file}` });
      else owner.set(n, d);
    }
  }
  if (problems.length > 0) throw new DistroDefinitionError(problems);
  return defs;
}

function describeReleases(d: DistroDef): string {
  const listed = d.releases.map((r) => (r.aliases.length ? `${r.name} (${r.aliases.join(', ')})` : r.name)).join(', ');
  const a = d.archiveAliases;
  const dynamic = a === undefined ? [] : [...a.suites, ...(a.lts === undefined ? [] : [a.lts])];
  return dynamic.length ? `${listed}; from the archive: ${dynamic.join(', ')}` : listed;
}

/**
 * Finds a distro by name or alias and one of its releases by name or alias (its default when
 * `release` is omitted). CakeError('not-found') listing what exists otherwise.
 */
export function findRelease(defs: readonly DistroDef[], name: string, release?: string): { distro: DistroDef; release: ReleaseDef } {
  const distro = defs.find((d) => d.name === name) ?? defs.find((d) => d.aliases.includes(name));
  if (distro === undefined) {
    throw new CakeError('not-found', `unknown distro: ${name}`, {
      hint: `known distros: ${defs.map((d) => d.name).join(', ')}; \`cake distros\` lists their releases`,
    });
  }
  const wanted = release ?? distro.default;
  const found = distro.releases.find((r) => r.name === wanted) ?? distro.releases.find((r) => r.aliases.includes(wanted));
  if (found === undefined) {
    throw new CakeError('not-found', `unknown release of ${distro.name}: ${wanted}`, {
      hint: `${distro.name} releases: ${describeReleases(distro)}; see \`cake distros\``,
    });
  }
  return { distro, release: found };
}

/** Whether `release` is an alias that the archive resolves (see ArchiveAliasesDef). */
export function isArchiveAlias(distro: DistroDef, release: string): boolean {
  const a = distro.archiveAliases;
  return a !== undefined && (a.suites.includes(release) || a.lts === release);
}

/**
 * Whether `name[:release]` names a known distro release, an archive alias included (which only
 * a pull resolves). Never throws.
 */
export function releaseKnown(defs: readonly DistroDef[], name: string, release?: string): boolean {
  const distro = defs.find((d) => d.name === name) ?? defs.find((d) => d.aliases.includes(name));
  if (distro === undefined) return false;
  if (release !== undefined && isArchiveAlias(distro, release)) return true;
  try {
    findRelease(defs, name, release);
    return true;
  } catch {
    return false;
  }
}

/** A source chosen for one arch, with the per-arch details resolved. */
export type SelectedSource =
  | { kind: 'tarball'; arch: DistroArch; url: string; sha256: string; strip: number }
  | { kind: 'registry'; arch: DistroArch; image: string }
  | {
      kind: 'archive';
      arch: DistroArch;
      /** Debian's name for the arch (amd64, arm64, armhf, …). */
      debianArch: string;
      keyring: ArchiveSourceDef['keyring'];
      variant: ArchiveSourceDef['variant'];
      components: string[];
      /** Every (mirror, suite) to read, the release's own suite first. */
      suites: { mirror: string; suite: string }[];
    };

function archesOf(src: SourceDef): DistroArch[] | 'any' {
  if (src.kind === 'tarball') return Object.keys(src.arch) as DistroArch[];
  return src.arch ?? 'any';
}

function toArch(arch: string): DistroArch {
  if (isDistroArch(arch)) return arch;
  const a = toDistroArch(parsePlatform(arch));
  if (a === undefined) throw new CakeError('not-found', `no distro builds for ${arch}`, { hint: 'pick another --platform' });
  return a;
}

/**
 * The first source of `release` that serves `arch` (a distro arch like aarch64, or an OCI one like
 * arm64 or linux/arm/v7) and whose kind is in `supported` (the kinds the caller implements).
 * CakeError('not-found') listing the arches (and kinds) that do exist otherwise.
 */
export function selectSource(release: ReleaseDef, arch: string, supported: readonly SourceDefKind[]): SelectedSource {
  return selectSources(release, arch, supported)[0]!;
}

/**
 * Every source of `release` that serves `arch` and whose kind is in `supported`, in the
 * definition's order (a pull tries them in turn). Throws like {@link selectSource} when none does.
 */
export function selectSources(release: ReleaseDef, arch: string, supported: readonly SourceDefKind[]): SelectedSource[] {
  const want = toArch(arch);
  const out: SelectedSource[] = [];
  for (const src of release.sources) {
    const arches = archesOf(src);
    if (!supported.includes(src.kind) || (arches !== 'any' && !arches.includes(want))) continue;
    if (src.kind === 'tarball') out.push({ kind: 'tarball', arch: want, strip: src.strip, ...src.arch[want]! });
    else if (src.kind === 'registry') out.push({ kind: 'registry', arch: want, image: src.image });
    else {
      const suites = src.repos.flatMap((r) => r.suites.map((suite) => ({ mirror: r.mirror[want]!, suite })));
      const { keyring, variant, components } = src;
      out.push({ kind: 'archive', arch: want, debianArch: toDebianArch(fromDistroArch(want))!, keyring, variant, components, suites });
    }
  }
  if (out.length > 0) return out;
  const offers = release.sources.map((s) => {
    const a = archesOf(s);
    return `${a === 'any' ? 'any arch' : a.join(', ')} (${s.kind}${supported.includes(s.kind) ? '' : ', not supported yet'})`;
  });
  throw new CakeError('not-found', `release ${release.name} has no ${supported.join(' or ')} source for ${want}`, {
    hint: `${release.name} is available for ${offers.join('; ')}; try another release or --platform (see \`cake distros\`)`,
  });
}
