import { UsageError } from '../model/errors.js';
import { COMMAND_POINTERS } from './command-pointers.js';
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './command-table.js';

/** argv after the pre-pass: what commander parses, and the guest command cut off before it. */
export interface SplitArgv {
  /** `node cake [GLOBALS] COMMAND [OPTIONS] [NAME]`, aliases rewritten to their canonical flags. */
  argv: string[];
  /** The command's spec (undefined: no command word, or `--version`/`--help` alone). */
  spec?: CommandSpec;
  /** exec/enter: the guest command (everything from the first word after NAME, or after `--`). */
  guestCmd?: string[];
}

/** The canonical flags of an option: `-b, --bind <SRC>` gives `-b` and `--bind`. */
function flagsOf(o: OptionSpec): string[] {
  return [...o.flags.matchAll(/(?:^|[ ,])(--?[A-Za-z0-9][A-Za-z0-9-]*)/g)].map((m) => m[1]!);
}

function takesValue(o: OptionSpec): boolean {
  return /[<[]/.test(o.flags);
}

/** Every spelling of the command's options → [canonical long flag, takes a value]. */
function optionWords(spec: CommandSpec): Map<string, { canonical: string; value: boolean }> {
  const out = new Map<string, { canonical: string; value: boolean }>();
  for (const o of spec.options) {
    const flags = flagsOf(o);
    const canonical = flags.find((f) => f.startsWith('--')) ?? flags[0]!;
    for (const f of [...flags, ...(o.aliases ?? [])]) out.set(f, { canonical, value: takesValue(o) });
  }
  return out;
}

/** The command a word names: its own name or one of its aliases. */
export function commandFor(word: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === word || (c.aliases ?? []).includes(word));
}

/** Optimal string alignment distance (insertions, deletions, substitutions, transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The one close candidate to a misspelled word, or undefined. Close means a typo, not a
 * different word: at most 1 edit for words up to 4 letters, 2 for longer ones, and no tie.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length <= 4 ? 1 : 2;
  const scored = [...new Set(candidates)].map((c) => ({ c, d: editDistance(word, c) })).filter((x) => x.d <= limit && x.d > 0);
  if (scored.length === 0) return undefined;
  const best = Math.min(...scored.map((x) => x.d));
  const winners = scored.filter((x) => x.d === best);
  return winners.length === 1 ? winners[0]!.c : undefined;
}

function unknownCommand(word: string): UsageError {
  const pointer = COMMAND_POINTERS[word];
  if (pointer) return new UsageError(`cake has no command '${word}'`, pointer);
  const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const near = closest(word, names);
  return new UsageError(`unknown command '${word}'`, near ? `did you mean \`cake ${near}\`? (see \`cake help\`)` : 'see `cake help` for the list of commands');
}

/**
 * The pre-pass over argv before commander: finds the command (an alias becomes the command's
 * name; a peer tool's verb cake does not have is a UsageError pointing to cake's verb), rewrites
 * option aliases (`-v`, `--volume`, `--workdir`, ...) to their canonical flags, and for `exec`
 * and `enter` cuts off the guest command: after NAME, the first word that is not one of cake's
 * options (or what follows `--`) starts CMD, and everything after it belongs to CMD, as with
 * `docker exec`. Pure.
 */
export function splitArgv(given: readonly string[]): SplitArgv {
  // bin/cake escapes `--env-file` from Node 20, which would act on it (see there)
  const argv = given.map((a) => (a.startsWith('%cake%--env-file') ? a.slice(6) : a));
  const out = argv.slice(0, 2);
  let i = 2;
  const globals = new Set(GLOBAL_OPTIONS.flatMap(flagsOf));
  while (i < argv.length && argv[i]!.startsWith('-') && (globals.has(argv[i]!) || argv[i] === '-h' || argv[i] === '--help')) out.push(argv[i++]!);
  if (i >= argv.length) return { argv: out };
  const word = argv[i]!;
  if (word.startsWith('-')) return { argv: [...out, ...argv.slice(i)] };
  const spec = word === 'help' ? commandFor('help') : commandFor(word);
  if (!spec) throw unknownCommand(word);
  out.push(spec.name);
  i++;
  const words = optionWords(spec);
  const splitsCmd = spec.name === 'exec' || spec.name === 'enter';
  let positionals = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      if (splitsCmd) return { argv: out, spec, guestCmd: argv.slice(i + 1) };
      out.push(...argv.slice(i));
      return { argv: out, spec };
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.startsWith('--') ? a.indexOf('=') : -1;
      const flag = eq > 0 ? a.slice(0, eq) : a;
      const known = words.get(flag);
      if (known) {
        out.push(eq > 0 ? `${known.canonical}${a.slice(eq)}` : known.canonical);
        if (known.value && eq < 0 && i + 1 < argv.length) out.push(argv[++i]!);
        continue;
      }
      // a short flag with its value attached (`-eK=V`, `-v/src:/dst`)
      const short = !a.startsWith('--') && a.length > 2 ? words.get(a.slice(0, 2)) : undefined;
      if (short?.value) {
        out.push(short.canonical, a.slice(2));
        continue;
      }
      out.push(a);
      continue;
    }
    if (splitsCmd && positionals >= 1) return { argv: out, spec, guestCmd: argv.slice(i) };
    positionals++;
    out.push(a);
  }
  return { argv: out, spec };
}
