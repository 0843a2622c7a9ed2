/**
 * A fast parser of deb822 stanzas (Packages, Release, control files): "Field: value" lines,
 * continuation lines starting with a space or tab, stanzas separated by blank lines.
 * Pure, no I/O. Input must be plain text: strip an OpenPGP clearsign wrapper before calling.
 */
import { CakeError } from '../model/errors.js';

/** One stanza: lowercased field name → value. */
export type Stanza = Record<string, string>;

/**
 * Calls `onStanza` for each stanza of `text`, in order.
 *
 * - Field names are case-insensitive: keys are always lowercased (`stanza['package']`).
 * - With `fields` (lowercase names), only those fields are kept, which is what makes a 45 MB
 *   Packages file cheap; stanzas that keep no field are still reported (as empty objects).
 * - A value is the text after the colon, trimmed; each continuation line is appended after a
 *   '\n' with its leading space or tab and trailing whitespace removed (" ." stays ".").
 * - Whitespace-only lines separate stanzas like empty ones; CRLF line ends are tolerated; lines
 *   starting with '#' are comments.
 *
 * Throws CakeError('bad-archive') naming the line for a line that is neither a field nor a
 * continuation, or a continuation with no field before it.
 */
export function forEachStanza(
  text: string,
  fields: ReadonlySet<string> | undefined,
  onStanza: (stanza: Stanza) => void,
): void {
  // Raw field spelling → lowercased key, or null when not wanted. Files use few spellings.
  const keyOf = new Map<string, string | null>();
  const len = text.length;
  let pos = 0;
  let lineNo = 0;
  let current: Stanza | undefined;
  let lastKey: string | null | undefined; // undefined: no field yet in this stanza
  while (pos < len) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = len;
    lineNo++;
    let lineEnd = end;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13) lineEnd--;
    const first = lineEnd > pos ? text.charCodeAt(pos) : -1;
    if (first === -1 || isBlank(text, pos, lineEnd)) {
      if (current !== undefined) onStanza(current);
      current = undefined;
      lastKey = undefined;
    } else if (first === 32 || first === 9) {
      if (lastKey === undefined) {
        throw badLine(text, pos, lineEnd, lineNo, 'continuation line without a field');
      }
      if (lastKey !== null && current !== undefined) {
        const rest = text.slice(pos + 1, lineEnd).trimEnd();
        const prev = current[lastKey];
        current[lastKey] = prev === '' || prev === undefined ? rest.trimStart() : `${prev}\n${rest}`;
      }
    } else if (first === 35 /* # */) {
      // comment
    } else {
      const colon = text.indexOf(':', pos);
      if (colon < 0 || colon >= lineEnd || colon === pos) {
        throw badLine(text, pos, lineEnd, lineNo, 'expected "Field: value"');
      }
      const raw = text.slice(pos, colon);
      let key = keyOf.get(raw);
      if (key === undefined) {
        const lower = raw.trimEnd().toLowerCase();
        if (/\s/.test(lower)) throw badLine(text, pos, lineEnd, lineNo, 'space in field name');
        key = fields === undefined || fields.has(lower) ? lower : null;
        keyOf.set(raw, key);
      }
      if (current === undefined) current = {};
      lastKey = key;
      if (key !== null) current[key] = text.slice(colon + 1, lineEnd).trim();
    }
    pos = end + 1;
  }
  if (current !== undefined) onStanza(current);
}

/** All stanzas of `text` as an array; see {@link forEachStanza} for the rules. */
export function parseStanzas(text: string, fields?: ReadonlySet<string>): Stanza[] {
  const out: Stanza[] = [];
  forEachStanza(text, fields, (s) => out.push(s));
  return out;
}

function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

function badLine(text: string, from: number, to: number, lineNo: number, why: string): CakeError {
  const line = text.slice(from, Math.min(to, from + 80));
  return new CakeError('bad-archive', `malformed deb822 at line ${lineNo}: ${why}: '${line}'`);
}
