/**
 * What a parsed recipe is (the format is documented in the README, "Recipes", and in
 * man/cake-recipe.5; the strict parser is recipe-schema.ts). Pure types and the error class.
 */
import type { Variant } from '../model/names.js';
import { CakeError } from '../model/errors.js';
import { formatYamlProblem, type YamlAt, type YamlProblem } from '../model/yaml-check.js';
import type { Source } from '../model/source.js';
import type { Bind } from '../model/run-options.js';
import type { ImageSpec } from './recipe-image.js';

/** Where something is written: for messages `web.yaml:12 steps[2].run: ...`. */
export type At = YamlAt;

/** Another env or recipe that files are taken from. */
export type OtherRef = { kind: 'env'; name: string } | { kind: 'recipe'; file: string };

/** The options of `cake pull` for a Debian/Ubuntu archive source (`--packages`, `--variant`, `--recommends`). */
export interface PullOptions {
  packages?: string[];
  variant?: Variant;
  recommends?: boolean;
  /** Accept a Release past its Valid-Until, with one warning (`allow_expired: true`, `--allow-expired`). */
  allowExpired?: boolean;
}

/**
 * What a recipe starts from. A `source` that is a bare name may also name an env (decided when
 * planning); `pull` holds the archive options of the mapping form of `from:`.
 */
export type FromRef = { kind: 'source'; text: string; source: Source; pull?: PullOptions } | OtherRef;

/** `OTHER:/PATH` of an `add` step. */
export interface AddFrom {
  text: string;
  other: OtherRef;
  path: string;
  at: At;
}

export interface Located<T> {
  value: T;
  at: At;
}

export type Step =
  | { kind: 'run'; at: At; script: string; cwd?: string }
  | { kind: 'copy'; at: At; sources: Located<string>[]; to: string; mode?: number }
  | { kind: 'add'; at: At; from: AddFrom[]; nix: Located<string>[]; host: Located<string>[] }
  | { kind: 'env'; at: At; vars: [string, string][] }
  | { kind: 'path'; at: At; dirs: string[] }
  | { kind: 'file'; at: At; path: string; content: string; mode: number }
  | { kind: 'user'; at: At; name: string; uid?: number; gid?: number; home?: string; shell?: string; groups: string[] }
  | { kind: 'bind'; at: At; binds: Bind[] };

export type StepKind = Step['kind'];

export const STEP_KINDS: readonly StepKind[] = ['run', 'copy', 'add', 'env', 'path', 'file', 'user', 'bind'];

export interface Recipe {
  /** Absolute path of the recipe file. */
  file: string;
  /** The file as shown in messages. */
  display: string;
  name?: string;
  from: FromRef;
  fromAt: At;
  steps: Step[];
  expectSha256?: string;
  expectAt?: At;
  /**
   * Host paths besides the recipe's directory that `copy:` and `add: { host: ... }` may read
   * (`host_paths:`, absolute). Without them a recipe reads only its own directory, as docker
   * build reads only its context.
   */
  hostPaths?: Located<string>[];
  /** The `image:` section: how `cake cook --bake` bakes the result (recipe-image.ts). */
  image?: ImageSpec;
}

/** One problem in a recipe. */
export type Problem = YamlProblem;

export const formatProblem = formatYamlProblem;

/** Every problem found in a recipe (and the recipes it refers to), reported together. Exit code 2. */
export class RecipeError extends CakeError {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    const lines = problems.map(formatProblem);
    const message = problems.length === 1 ? lines[0]! : `${problems.length} problems in the recipe:\n${lines.join('\n')}`;
    const own = problems.length === 1 ? problems[0]!.hint : undefined;
    super('recipe', message, { exitCode: 2, hint: own ?? 'fix the recipe; its format is in the README ("Recipes") and `man 5 cake-recipe`' });
    this.name = 'RecipeError';
    this.problems = problems;
  }
}
