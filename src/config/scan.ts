// Line-level reading of one service file. We do not hand the text to
// `ini.decode`: it forgets line numbers, merges repeated sections, lets a
// repeated key silently win, turns a stray word into `word = true`, nests
// dotted section names and strips everything after `;` or `#` in a value.
// Every one of those must be an error that names its line, so we scan
// ourselves and keep `ini` for what it is good at: the quoting convention of
// scalar values (see `unquote`).
//
// Comments are whole lines whose first non-blank character is `;` or `#`.
// There are no inline comments: `args = --color=#fff` and
// `env = GREETING=hi;there` mean exactly what they say.

import ini from 'ini';
import { configError, type ConfigError } from '../errors.js';
import { clip } from './clip.js';

export interface ScannedEntry {
  key: string;
  /** Trimmed but otherwise as written: quotes are left for the key's own parser. */
  value: string;
  line: number;
}

export interface ScannedSection {
  name: string;
  line: number;
  entries: ScannedEntry[];
}

export interface ScanResult<E extends ErrorSink = ConfigError[]> {
  sections: ScannedSection[];
  errors: E;
}

/** Where errors go: an array, or a sink that keeps only the first few (problems.ts). */
export interface ErrorSink {
  push(e: ConfigError): void;
}

const SECTION_NAME = /^[A-Za-z0-9_-]+$/;
/** A name goes into every log line of its service and into its handlers' environment. */
export const MAX_NAME_CHARS = 64;

/** A text file's lines, for superd's own files and the inetd/xinetd ones `convert` reads: a BOM dropped, CRLF or LF. */
export function fileLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

export function scanIni(file: string, text: string): ScanResult;
export function scanIni<E extends ErrorSink>(file: string, text: string, errors: E): ScanResult<E>;
export function scanIni(file: string, text: string, errors: ErrorSink = []): ScanResult<ErrorSink> {
  const sections: ScannedSection[] = [];
  const sectionLines = new Map<string, number>();
  // The section entries go to; null before the first header, and also after a
  // broken or repeated header, whose keys would only produce follow-on noise.
  let current: ScannedSection | null = null;
  let skipping = false;
  let keyLines = new Map<string, number>();

  const lines = fileLines(text);
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) continue;

    if (trimmed.startsWith('[')) {
      current = null;
      skipping = true;
      keyLines = new Map();
      const close = trimmed.indexOf(']');
      if (close < 0) {
        errors.push(configError('syntax', file, line, null, `section header '${clip(trimmed)}' has no closing ']'`));
        continue;
      }
      const name = trimmed.slice(1, close).trim();
      const rest = trimmed.slice(close + 1).trim();
      const fitting = name.length <= MAX_NAME_CHARS && SECTION_NAME.test(name);
      if (rest !== '') {
        errors.push(
          configError('syntax', file, line, fitting ? name : null,
            `unexpected '${clip(rest)}' after section header [${clip(name)}]: comments must be on a line of their own`),
        );
        continue;
      }
      if (!SECTION_NAME.test(name)) {
        errors.push(
          configError('syntax', file, line, null,
            `bad service name '${clip(name)}': use only letters, digits, '-' and '_'`),
        );
        continue;
      }
      if (name.length > MAX_NAME_CHARS) {
        errors.push(
          configError('syntax', file, line, null,
            `service name '${clip(name)}' is ${name.length} characters long: at most ${MAX_NAME_CHARS} are allowed`),
        );
        continue;
      }
      const first = sectionLines.get(name);
      if (first !== undefined) {
        errors.push(
          configError('duplicate_section', file, line, name,
            `section [${name}] is repeated (first defined at line ${first}): merge the two sections or rename one`),
        );
        continue;
      }
      sectionLines.set(name, line);
      current = { name, line, entries: [] };
      sections.push(current);
      skipping = false;
      continue;
    }

    const section = current;
    const eq = trimmed.indexOf('=');
    if (eq < 0) {
      if (!skipping) {
        errors.push(
          configError('syntax', file, line, section?.name ?? null,
            `expected 'key = value' or '[section]', got '${clip(trimmed)}'`),
        );
      }
      continue;
    }
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (key === '') {
      if (!skipping) {
        errors.push(configError('syntax', file, line, section?.name ?? null, `'${clip(trimmed)}' has no key before '='`));
      }
      continue;
    }
    if (section === null) {
      if (!skipping) {
        errors.push(
          configError('syntax', file, line, null,
            `'${clip(key)} = ...' comes before any [section]: put it under the [service] it belongs to`),
        );
      }
      continue;
    }
    const firstKey = keyLines.get(key);
    if (firstKey !== undefined) {
      errors.push(
        configError('duplicate_key', file, line, section.name,
          `key '${clip(key)}' is repeated (first set at line ${firstKey}): keep only one`),
      );
      continue;
    }
    keyLines.set(key, line);
    section.entries.push({ key, value, line });
  }

  return { sections, errors };
}

/**
 * The INI convention for a scalar value: `"..."` (JSON string escapes) or
 * `'...'` around the whole value is removed. Anything else is returned as is,
 * with none of ini's inline-comment stripping. Not for `args`, `env` and
 * `pass_env`, whose quotes belong to shell-like word splitting.
 */
export function unquote(value: string): string {
  const quoted =
    value.length >= 2 &&
    ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")));
  if (!quoted) return value;
  // ini.unsafe would also JSON-decode the inside of '...', so '"x"' became x.
  return value.startsWith("'") ? value.slice(1, -1) : ini.unsafe(value);
}
