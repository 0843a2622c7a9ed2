/**
 * The types of the command table (command-table.ts): a handler, and the options it receives, typed
 * from its command's spec so that a handler reads `opts.output` as the string commander gives.
 */
import type { TABLE } from './command-table.js';
import type { CliContext } from './context.js';

/** A command handler: parsed positionals and its command's typed options (`CommandOptions`) in, exit code out. */
export type Handler<O = Record<never, never>> = (ctx: CliContext, args: string[], opts: O) => Promise<number>;

type LongFlag<F extends string> = F extends `${string}--${infer R}` ? (R extends `${infer N} ${string}` ? N : R) : never;
type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
/** Commander's key of a flag: `--bin-dir <DIR>` → `binDir`, `--no-cache` → `cache`. */
type OptionKey<F extends string> = LongFlag<F> extends `no-${infer R}` ? Camel<R> : Camel<LongFlag<F>>;
type OptionValue<O> = O extends { flags: `${string}<${string}` }
  ? O extends { repeatable: true } ? string[] : O extends { choices: readonly (infer C)[] } ? C : string
  : boolean;
type SpecOf<N> = Extract<(typeof TABLE)[number], { name: N }>;

/** The name of a command with a handler. */
export type CommandName = Exclude<(typeof TABLE)[number]['name'], 'help'>;

/** The options a command's handler receives, typed from its spec (commander's keys); `guestCmd` is what follows `--`. */
export type CommandOptions<N extends CommandName> = {
  [O in SpecOf<N>['options'][number] as OptionKey<O['flags']>]?: OptionValue<O>;
} & { guestCmd?: string[] };
