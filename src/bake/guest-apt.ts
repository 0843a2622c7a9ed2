/**
 * APT sources of a baked Debian or Ubuntu env: the image should be able to `apt-get update` and
 * get security and stable updates, as the Ubuntu-images article's "creature comforts" ask. When the
 * env's sources (sources.list, sources.list.d/*.list and *.sources) lack the release, -security or
 * -updates suite of the env's own codename (/etc/os-release), cake adds the missing ones in
 * /etc/apt/sources.list.d/cake-CODENAME.sources (deb822) from the distribution's default mirrors;
 * what is there already is kept. Releases without those suites (sid, unstable) are left alone. Pure.
 */
import type { GuestFile } from './guest-busybox.js';

export interface AptView {
  read(path: string): string | undefined;
  exists(path: string): boolean;
  /** Names in a directory of the tree (empty when absent). */
  list(dir: string): string[];
}

const MIRRORS = {
  debian: { main: 'http://deb.debian.org/debian', security: 'http://deb.debian.org/debian-security', components: 'main', keyring: '/usr/share/keyrings/debian-archive-keyring.gpg' },
  ubuntu: { main: 'http://archive.ubuntu.com/ubuntu', security: 'http://security.ubuntu.com/ubuntu', components: 'main universe', keyring: '/usr/share/keyrings/ubuntu-archive-keyring.gpg' },
} as const;

function osRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=("?)(.*)\2\s*$/.exec(line);
    if (m !== null) out[m[1] as string] = m[3] as string;
  }
  return out;
}

/** The files to add and the note to print; nothing when the env is not Debian/Ubuntu or has all three suites. */
export function aptSources(g: AptView): { files: GuestFile[]; note?: string } {
  if (!g.exists('/usr/bin/apt-get')) return { files: [] };
  const os = osRelease(g.read('/etc/os-release') ?? g.read('/usr/lib/os-release') ?? '');
  const id = os.ID === 'debian' || os.ID === 'ubuntu' ? os.ID : undefined;
  const codename = os.VERSION_CODENAME;
  if (id === undefined || codename === undefined || codename === '' || codename === 'sid' || codename === 'unstable') return { files: [] };
  const texts = [g.read('/etc/apt/sources.list') ?? ''];
  for (const n of g.list('/etc/apt/sources.list.d')) if (/\.(list|sources)$/.test(n)) texts.push(g.read(`/etc/apt/sources.list.d/${n}`) ?? '');
  const all = texts.join('\n').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
  const has = (suite: string): boolean => new RegExp(`(^|\\s)${suite.replace(/[-]/g, '\\-')}(\\s|$)`, 'm').test(all);
  const missing = [codename, `${codename}-updates`, `${codename}-security`].filter((s) => !has(s));
  if (missing.length === 0) return { files: [] };
  const m = MIRRORS[id];
  const stanza = (uri: string, suites: string[]): string => `Types: deb\nURIs: ${uri}\nSuites: ${suites.join(' ')}\nComponents: ${m.components}\nSigned-By: ${m.keyring}\n`;
  const mainSuites = missing.filter((s) => !s.endsWith('-security'));
  const parts = ['# Written by cake bake: the suites the env had no source for.\n'];
  if (mainSuites.length > 0) parts.push(stanza(m.main, mainSuites));
  if (missing.includes(`${codename}-security`)) parts.push(stanza(m.security, [`${codename}-security`]));
  return {
    files: [{ path: `etc/apt/sources.list.d/cake-${codename}.sources`, content: parts.join('\n'), mode: 0o644 }],
    note: `apt: added sources for ${missing.join(', ')} (/etc/apt/sources.list.d/cake-${codename}.sources)`,
  };
}
