import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../model/errors.js';
import { parseRegistryMirrors } from '../oci/mirrors.js';

/**
 * The user configuration: `<config dir>/config.json` (`$XDG_CONFIG_HOME/cake`, or
 * `$CAKE_HOME/config`), written by `cake config set` through the `conf` package (atomic writes,
 * schema-checked). A `CAKE_*` variable overrides each key (below). Commands read it with a plain
 * JSON parse, so that `cake exec` does not load `conf` on every call.
 */
export interface ConfigKey {
  key: string;
  /** The environment variable that overrides the file. */
  envVar: string;
  description: string;
  /** Allowed values (else any non-empty text; `list` keys take comma-separated values). */
  choices?: readonly string[];
  list?: boolean;
  /** A URL (http or https). */
  url?: boolean;
  /** Validates a list value; throws a usage error saying what is wrong. */
  check?: (values: string[]) => void;
}

export const CONFIG_KEYS: readonly ConfigKey[] = [
  { key: 'engine', envVar: 'CAKE_ENGINE', description: 'default engine of enter/exec: auto, userns or proot', choices: ['auto', 'userns', 'proot'] },
  { key: 'default-env', envVar: 'CAKE_DEFAULT_ENV', description: 'the environment `cake enter` opens without NAME (default: default-distro)' },
  { key: 'default-distro', envVar: 'CAKE_DEFAULT_DISTRO', description: 'the distro pulled by `cake enter` without NAME (default: debian)' },
  { key: 'debian-mirror', envVar: 'CAKE_DEBIAN_MIRROR', url: true, description: 'Debian archive mirror for pulls of debian releases (default: the definition\'s, http://deb.debian.org/debian)' },
  { key: 'ubuntu-mirror', envVar: 'CAKE_UBUNTU_MIRROR', url: true, description: 'Ubuntu archive mirror for pulls of ubuntu releases (default: the definition\'s)' },
  { key: 'registry-mirrors', envVar: 'CAKE_REGISTRY_MIRRORS', list: true, check: (v) => void parseRegistryMirrors(v), description: 'registry mirrors tried in order before the registry, comma-separated MIRROR (Docker Hub) or REGISTRY=MIRROR, MIRROR as [http://]HOST[:PORT][/PREFIX]' },
  { key: 'binds', envVar: 'CAKE_BINDS', description: 'binds added to every enter/exec, comma-separated SRC[:DST[:ro]]', list: true },
  { key: 'gui', envVar: 'CAKE_GUI', description: 'yes: every enter/exec runs as with --gui (default no)', choices: ['yes', 'no'] },
  { key: 'colour', envVar: 'CAKE_COLOUR', description: 'auto (default: on a terminal), always or never; NO_COLOR and FORCE_COLOR win', choices: ['auto', 'always', 'never'] },
];

export type ConfigValues = Partial<Record<string, string | string[]>>;

export function configKey(key: string): ConfigKey {
  const k = CONFIG_KEYS.find((c) => c.key === key);
  if (!k) throw new UsageError(`unknown configuration key: ${key}`, `the keys are: ${CONFIG_KEYS.map((c) => c.key).join(', ')}`);
  return k;
}

/** The file's values (an unreadable or corrupt file counts as empty: `cake config list` says so). */
export function readConfigFile(configDir: string): ConfigValues {
  try {
    const v = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as ConfigValues) : {};
  } catch {
    return {};
  }
}

/** Checks and normalises a value for `key` (a list key: split at commas). */
export function parseConfigValue(k: ConfigKey, text: string): string | string[] {
  if (k.list) {
    const values = text.split(',').map((s) => s.trim()).filter(Boolean);
    k.check?.(values);
    return values;
  }
  if (text === '') throw new UsageError(`empty value for ${k.key}`, `use \`cake config unset ${k.key}\` to remove it`);
  if (k.url && !/^https?:\/\/[^\s/]+/.test(text)) throw new UsageError(`invalid value for ${k.key}: ${JSON.stringify(text)}`, 'give an http:// or https:// URL, e.g. http://ftp.de.debian.org/debian');
  if (k.choices && !k.choices.includes(text)) throw new UsageError(`invalid value for ${k.key}: ${JSON.stringify(text)}`, `one of: ${k.choices.join(', ')}`);
  return text;
}

/** Where a value comes from: the variable, the file, or nothing. */
export interface ConfigValue {
  value: string | string[] | undefined;
  from: 'env' | 'file' | 'unset';
}

/** The effective value of `key`: its CAKE_* variable (when set and non-empty), else the file. */
export function configValue(key: string, env: Record<string, string | undefined>, file: ConfigValues): ConfigValue {
  const k = configKey(key);
  const fromEnv = env[k.envVar];
  if (fromEnv !== undefined && fromEnv !== '') return { value: parseConfigValue(k, fromEnv), from: 'env' };
  const v = file[key];
  if (v !== undefined) return { value: v, from: 'file' };
  return { value: undefined, from: 'unset' };
}

/** A string setting (or undefined). */
export function configString(key: string, env: Record<string, string | undefined>, file: ConfigValues): string | undefined {
  const v = configValue(key, env, file).value;
  return typeof v === 'string' ? v : undefined;
}

/** A list setting (or []). */
export function configList(key: string, env: Record<string, string | undefined>, file: ConfigValues): string[] {
  const v = configValue(key, env, file).value;
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
