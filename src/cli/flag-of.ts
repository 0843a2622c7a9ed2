/** Request options whose flag is not their kebab-case spelling. */
const FLAG_OF: Readonly<Record<string, string>> = { moduleDirs: 'modules', binds: 'bind' };

/** The flag of a request option that domain code names in an OptionError: `expectSha256` → `--expect-sha256`. */
export function flagOf(option: string): string {
  return `--${FLAG_OF[option] ?? option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
