// One scanned [section]'s entries, read for validation: known keys with their
// values and lines, unknown keys reported with a "did you mean", a comment put
// at the end of a line warned about; then a Reader that parses each key,
// falls back to its default and records what is wrong at the key's line.
import { configError, type ConfigError } from '../errors.js';
import { clip } from './clip.js';
import { unquote, type ScannedEntry, type ScannedSection } from './scan.js';
import { isKey, unknownKeyMessage, type Key, type Suggest } from './suggest.js';
import type { Parsed } from './values.js';

/** Their quotes belong to word splitting, not to the INI convention. */
const WORD_KEYS: readonly Key[] = ['args', 'env', 'pass_env'];

/** Access to one section's known keys, recording errors as it goes. */
export interface Reader {
  raw: ReadonlyMap<Key, string>;
  has(key: Key): boolean;
  /** The parsed value, the default when absent, or the default after reporting a bad value. */
  field<T>(key: Key, fallback: T, parse: (v: string) => Parsed<T>): T;
  /** At the key's line, or the section's line when key is null (a missing key). */
  report(code: string, key: Key | null, message: string): void;
}

export interface ReadSection {
  reader: Reader;
  /** Filled as the section is read, and as the reader reports. */
  errors: ConfigError[];
  /** Problems that do not stop the service (code `trailing_comment`). */
  warnings: ConfigError[];
  /** key -> line, for the keys the section sets. */
  keyLines: Map<string, number>;
}

export function readSection(file: string, section: ScannedSection, suggest: Suggest): ReadSection {
  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];
  const keyLines = new Map<string, number>();
  const raw = new Map<Key, string>();
  for (const e of section.entries) {
    if (isKey(e.key)) {
      raw.set(e.key, WORD_KEYS.includes(e.key) ? e.value : unquote(e.value));
      keyLines.set(e.key, e.line);
      const comment = trailingComment(e);
      if (comment !== null) warnings.push(configError('trailing_comment', file, e.line, section.name, comment));
    } else {
      errors.push(configError('unknown_key', file, e.line, section.name, unknownKeyMessage(e.key, suggest)));
    }
  }

  const reader: Reader = {
    raw,
    has: (key) => raw.has(key),
    report(code, key, message) {
      const line = key === null ? section.line : (keyLines.get(key) ?? section.line);
      errors.push(configError(code, file, line, section.name, message));
    },
    field(key, fallback, parse) {
      const v = raw.get(key);
      if (v === undefined) return fallback;
      const parsed = parse(v);
      if (parsed.ok) return parsed.value;
      reader.report('bad_value', key, parsed.error);
      return fallback;
    },
  };
  return { reader, errors, warnings, keyLines };
}

/**
 * SPEC §2: a comment is a whole line, so `args = -v # debug` passes `#` and
 * `debug` on. That is allowed (`--url http://h/#top`), but a blank before the
 * `#` or `;` is usually a comment put on the wrong line: say so.
 */
function trailingComment(e: ScannedEntry): string | null {
  const m = /\s[#;]/.exec(e.value);
  if (m === null) return null;
  const tail = e.value.slice(m.index + 1);
  return `'${clip(tail)}' is part of the value of ${e.key}: superd has no comments at the end of a line (put it on a line of its own)`;
}
