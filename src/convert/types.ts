// What the converter's steps hand each other: the input files, the errors
// that stop a conversion, and the service drafts that become INI sections.

export type { Syntax } from '../config/foreign.js';

/** A problem in the input: nothing is written when there is one. `line` 0 is the file as a whole. */
export interface ConvertError {
  code: string;
  message: string;
  file: string;
  line: number;
}

export function convertError(code: string, file: string, line: number, message: string): ConvertError {
  return { code, file, line, message };
}

/** `FILE:LINE: message`, the form `superd check` uses, or `FILE: message` for a whole file. */
export function formatConvertError(e: ConvertError): string {
  return e.line > 0 ? `${e.file}:${e.line}: ${e.message}` : `${e.file}: ${e.message}`;
}

/** One key of the section to be written, with the comment lines that go above it. */
export interface DraftKey {
  key: string;
  value: string;
  notes: string[];
}

/**
 * One service as it will be written. `disabled` holds the reasons it is
 * written `disabled = yes` (its source disabled it, or it uses something
 * superd cannot do); `unservable` says why the whole section is written as
 * comments (superd could not even load it, e.g. an RPC service).
 */
export interface Draft {
  /** The input file and the line where the service begins. */
  file: string;
  line: number;
  /** How the source named it, for the comment above the section: `service echo (id echo-stream)`. */
  what: string;
  /** The wanted section name (made unique and valid later). */
  name: string;
  /** Tried before a number when `name` is taken: `udp` makes `echo-udp`. */
  altSuffix: string | null;
  keys: DraftKey[];
  /** Settings without an equivalent, as `# xinetd: KEY = VALUE — …` lines. */
  notes: string[];
  disabled: string[];
  unservable: string | null;
  /** The source's own comments that preceded the service, kept as they were. */
  carried: string[];
  /** Comments right under the one naming the source (a rename, say). */
  intro: string[];
  /**
   * The daemon names hosts.allow and hosts.deny were consulted under
   * (xinetd's libwrap, tcpd): their rules are applied to the draft last.
   */
  wrappedAs: string[];
}

export function newDraft(file: string, line: number, what: string, name: string, carried: string[]): Draft {
  return { file, line, what, name, altSuffix: null, keys: [], notes: [], disabled: [], unservable: null, carried, intro: [], wrappedAs: [] };
}

export function setKey(d: Draft, key: string, value: string, ...notes: string[]): void {
  d.keys.push({ key, value, notes });
}

/** Marks the draft as unservable; the first reason is the one that counts. */
export function cannotServe(d: Draft, reason: string): void {
  if (d.unservable === null) d.unservable = reason;
}
