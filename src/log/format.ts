// One event -> one line: `TIME LEVEL EVENT key=value…` or one JSON object.
// Every line is one event with flat fields, the same names in text and JSON
// (SPEC §6), so log parsers and tests can rely on them.
import type { FieldValue, LogFields, LogLevel } from './types.js';

/** What makes a text value ambiguous: whitespace, `"`, `=`, `\\`, control characters. */
const AMBIGUOUS = /[\s"=\\\u0000-\u001f\u007f]/;

/** `key=value`, with values quoted as JSON strings when they would be ambiguous. */
function textValue(value: string | number | boolean): string {
  // Two lines a connection go through here: numbers need no look.
  if (typeof value === 'number') return String(value);
  const s = String(value);
  return s === '' || AMBIGUOUS.test(s) ? JSON.stringify(s) : s;
}

// for...in, not Object.entries: no array per field on the path of every connection.
export function formatText(time: string, level: LogLevel, event: string, fields: LogFields): string {
  let line = `${time} ${level} ${event}`;
  for (const key in fields) {
    const value = fields[key];
    // null says "does not apply" (no signal for a normal exit): JSON keeps it, text leaves it out.
    if (value !== undefined && value !== null) line += ` ${key}=${textValue(value)}`;
  }
  return line;
}

export function formatJson(time: string, level: LogLevel, event: string, fields: LogFields): string {
  const record: Record<string, FieldValue> = { time, level, event };
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined) record[key] = value;
  }
  return JSON.stringify(record);
}
