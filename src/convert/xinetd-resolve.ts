// What xinetd 2.3.15 makes of the attribute lines of a service and of the
// defaults, line by line, as its parser does (parse.c, parsers.c):
// - a name it does not know, an attribute set again (the first one that was
//   taken counts), an operator the attribute does not take, or the wrong
//   number of values (a trailing `# comment` is values too: xinetd knows no
//   comment after a value): the line is ignored, and the service served;
// - a value its parser refuses: the service is disabled ("DISABLING
//   SERVICE"); in defaults, xinetd exits;
// - a set (only_from, no_access, env, passenv, log_on_*): in a service it
//   starts from the defaults' set, each `=` clears it, `+=` adds, `-=`
//   removes; in defaults `=` adds, as `+=` does.
// Then an attribute the service does not set comes from defaults. The
// caller (map-xinetd.ts) decides what each ignored line means for superd:
// a comment, or a disabled service where ignoring it would let in more than
// the author wrote. `interface` is another name for `bind`.

import { nearest } from '../config/suggest.js';
import { convertAddresses } from './access.js';
import { convertError, type ConvertError } from './types.js';
import { DEFAULTS_ATTRS, LIST_ATTRS, SERVICE_ATTRS, type XAttr, type XBlock } from './xinetd.js';
import { refusal } from './xinetd-values.js';

export interface XDefaults {
  /** The lines of the defaults blocks xinetd reads. */
  attrs: XAttr[];
  /** The (first) defaults block. */
  file: string;
  line: number;
  /** `FILE:LINE` of it. */
  where: string;
  /** What xinetd took from them: the first valid line of each attribute. */
  single: Map<string, XAttr>;
  /** The lines xinetd took, in order. */
  taken: XAttr[];
  /** The sets, `disabled` and `enabled` among them. */
  lists: Map<string, string[]>;
  /** `# xinetd:` comments for the lines xinetd ignores, and the blocks. */
  ignored: string[];
  /** A value xinetd refuses in defaults: it exits, and serves nothing. */
  error: ConvertError | null;
}

export interface Refusal {
  attr: XAttr;
  /** xinetd's message. */
  why: string;
}

export interface Resolved {
  single: Map<string, XAttr>;
  lists: Map<string, string[]>;
  /** The service's own lines of each set it applied, as written. */
  own: Map<string, XAttr[]>;
  /** Attributes (single or list) that came, wholly or partly, from defaults. */
  fromDefaults: Set<string>;
  /** `# xinetd:` comments for the lines xinetd ignored. */
  ignored: string[];
  /** Why ignoring a line, as xinetd did, would let in more than the author wrote: the service is disabled. */
  widen: string[];
  /** Lines whose value xinetd refused: it disabled the service. */
  refused: Refusal[];
  /** Words of only_from and no_access lines that follow a '#': a comment to the author, host names to xinetd. */
  commentWords: Set<string>;
  /** A line xinetd could not read at all: it skipped the whole service. */
  skipped: string | null;
}

const canonical = (name: string): string => (name === 'interface' ? 'bind' : name);

export const setting = (a: XAttr): string => `${a.name} ${a.op} ${a.raw}`.trimEnd();

/** Attributes that, wherever xinetd took them, restrict who gets in or where it listens. */
const RESTRICTING = new Set(['only_from', 'no_access', 'access_times', 'disable', 'bind', 'interface', 'flags', 'libwrap', 'v6only']);

/** Whether ignoring this line, as xinetd did, lets in more than the line asked for. */
function restrictsWhenIgnored(a: XAttr): boolean {
  const first = (a.values[0] ?? '').toLowerCase();
  if (a.name === 'disable' || a.name === 'v6only') return first !== 'no';
  return RESTRICTING.has(a.name);
}

// ---------------------------------------------------------------------------
// Sets.

/** only_from and no_access entries as xinetd holds them: one per address block (a name stays a name). */
function entries(name: string, words: readonly string[]): string[] {
  if (name !== 'only_from' && name !== 'no_access') return [...words];
  // A comma outside braces makes xinetd refuse the line; the entries it separates are what the author meant.
  return words.flatMap((w) => (w.includes(',') && !w.includes('{') ? w.split(',').filter((p) => p !== '') : [w]))
    .flatMap((w) => {
      const c = convertAddresses([w]);
      return c.blocks.length > 0 ? c.blocks : [w];
    });
}

/** `current` after one line: `=` (when it clears) and `+=` add, `-=` removes what xinetd counts as the same entry. */
function apply(name: string, current: readonly string[], op: XAttr['op'], words: readonly string[], clears: boolean): string[] {
  const given = entries(name, words);
  if (op === '-=') {
    const gone = new Set(given.map((g) => g.toLowerCase()));
    return current.filter((c) => !gone.has(c.toLowerCase()));
  }
  const base = op === '=' && clears ? [] : [...current];
  for (const g of given) if (!base.includes(g)) base.push(g);
  return base;
}

// ---------------------------------------------------------------------------

/**
 * The defaults blocks xinetd reads, as one: in each file only the first
 * (xinetd: "only 1 defaults entry is allowed. This entry will be
 * ignored"); the blocks of several files go into the same defaults, the
 * first valid line of each attribute counting.
 */
export function mergeDefaults(blocks: readonly XBlock[]): XDefaults | null {
  const found = blocks.filter((b) => b.kind === 'defaults');
  const first = found[0];
  if (first === undefined) return null;
  const where = `${first.file}:${first.line}`;
  const counted: XBlock[] = [];
  const d: XDefaults = { attrs: [], file: first.file, line: first.line, where, single: new Map(), taken: [], lists: new Map(), ignored: [], error: null };
  for (const b of found) {
    if (counted.some((c) => c.file === b.file)) {
      d.ignored.push(`# xinetd: defaults at ${b.file}:${b.line} — ignored, as xinetd ignores a second defaults block in a file (the one at line ${counted.find((c) => c.file === b.file)?.line ?? '?'} counts)`);
      continue;
    }
    counted.push(b);
    d.attrs.push(...b.attrs);
  }
  const setAt = new Map<string, number>();
  for (const a of d.attrs) {
    const at = setting(a);
    const here = `(defaults, line ${a.line})`;
    const n = DEFAULTS_ATTRS.get(a.name);
    if (n === undefined) {
      const guess = SERVICE_ATTRS.has(a.name) ? null : nearest(a.name, DEFAULTS_ATTRS.keys());
      d.ignored.push(SERVICE_ATTRS.has(a.name)
        ? `# xinetd: ${at} ${here} — ignored, as xinetd ignores it in defaults ("attribute: ${a.name} should not be in default section"): set it in each service`
        : `# xinetd: ${at} ${here} — ignored, as xinetd ignores an attribute it does not know${guess === null ? '' : ` (did you mean '${guess}'?)`}`);
      continue;
    }
    const id = canonical(a.name);
    if (n !== -2) {
      const before = setAt.get(id);
      if (before !== undefined) {
        d.ignored.push(`# xinetd: ${at} ${here} — ignored, as xinetd ignores an attribute set again: the one at line ${before} counts`);
        continue;
      }
      if (a.op !== '=') {
        d.ignored.push(`# xinetd: ${at} ${here} — ignored, as xinetd ignores it: '${a.name}' takes only '='`);
        continue;
      }
      if (n > 0 && a.values.length !== n) {
        d.ignored.push(`# xinetd: ${at} ${here} — ignored, as xinetd ignores it: ${a.name} takes ${n} value${n === 1 ? '' : 's'}, this line has ${a.values.length}${hashNote(a)}`);
        continue;
      }
    }
    const why = refusal(a);
    if (why !== null) {
      d.error = convertError('xinetd_value', blockOf(blocks, a)?.file ?? d.file, a.line,
        `defaults: ${at}: ${why}: xinetd refuses it and exits, serving nothing ("A fatal error was encountered while parsing the default section")`);
      return d;
    }
    d.taken.push(a);
    if (n === -2) {
      d.lists.set(a.name, apply(a.name, d.lists.get(a.name) ?? [], a.op, a.values, false));
    } else {
      d.single.set(id, a);
      setAt.set(id, a.line);
    }
  }
  return d;
}

function blockOf(blocks: readonly XBlock[], a: XAttr): XBlock | undefined {
  return blocks.find((b) => b.attrs.includes(a));
}

/** When a value has a word starting with '#': what follows it looks like a comment, and is values to xinetd. */
function hashNote(a: XAttr): string {
  return a.values.some((v) => v.startsWith('#')) ? `: '${a.raw.slice(a.raw.indexOf('#'))}' looks like a comment, and xinetd knows no comment after a value` : '';
}

/** The defaults' sets. */
export function defaultLists(defaults: XDefaults | null): Map<string, string[]> {
  return defaults?.lists ?? new Map<string, string[]>();
}

export function resolve(b: XBlock, defaults: XDefaults | null): Resolved {
  const r: Resolved = {
    single: new Map(), lists: new Map(), own: new Map(), fromDefaults: new Set(), ignored: [], widen: [], refused: [], commentWords: new Set(), skipped: null,
  };
  const base = defaultLists(defaults);
  // A set the defaults specify starts from theirs.
  for (const [name, values] of base) {
    if (!LIST_ATTRS.has(name)) continue;
    r.lists.set(name, [...values]);
    r.fromDefaults.add(name);
  }
  // name -> the line that set it, for the fixed attributes.
  const setAt = new Map<string, number>();
  for (const a of b.attrs) {
    const at = `${setting(a)} (line ${a.line})`;
    if (a.glued) {
      r.skipped ??= `xinetd could not read line ${a.line} ('${a.name}${a.op}${a.raw}': "Attribute ${a.name} needs a space before operator") and skipped the whole service`;
      continue;
    }
    const n = SERVICE_ATTRS.get(a.name);
    if (n === undefined) {
      const guess = nearest(a.name, SERVICE_ATTRS.keys());
      r.ignored.push(`# xinetd: ${at} — ignored, as xinetd ignores an attribute it does not know ("bad service attribute: ${a.name}")${guess === null ? '' : ` (did you mean '${guess}'?)`}`);
      if (guess !== null && restrictsWhenIgnored({ ...a, name: guess })) r.widen.push(`line ${a.line}: '${a.name}' is not an xinetd attribute, and xinetd ignored it; if '${guess}' was meant, it would have restricted the service`);
      continue;
    }
    const id = canonical(a.name);
    if (n !== -2) {
      const before = setAt.get(id);
      if (before !== undefined) {
        r.ignored.push(`# xinetd: ${at} — ignored, as xinetd ignores an attribute set again: the one at line ${before} counts`);
        continue;
      }
      if (a.op !== '=') {
        r.ignored.push(`# xinetd: ${at} — ignored, as xinetd ignores it ("operator '${a.op}' cannot be used for attribute '${a.name}'")`);
        if (restrictsWhenIgnored(a)) r.widen.push(`xinetd ignored ${setting(a)} (line ${a.line}: ${a.name} takes only '=') and served the service without it, which lets in more than that line asked for`);
        continue;
      }
      if (n > 0 && a.values.length !== n) {
        r.ignored.push(`# xinetd: ${at} — ignored, as xinetd ignores it ("attribute ${a.name} expects ${n} values and ${a.values.length} values were specified")${hashNote(a)}`);
        if (restrictsWhenIgnored(a)) r.widen.push(`xinetd ignored ${setting(a)} (line ${a.line}: ${a.name} takes ${n} value${n === 1 ? '' : 's'}) and served the service without it, which lets in more than that line asked for`);
        continue;
      }
    }
    const why = refusal(a);
    if (why !== null) r.refused.push({ attr: a, why });
    if (n === -2) {
      if (a.name === 'only_from' || a.name === 'no_access') {
        const hash = a.values.findIndex((v) => v.startsWith('#'));
        if (hash >= 0) for (const w of a.values.slice(hash)) r.commentWords.add(w);
      }
      if (why !== null && !(a.name === 'only_from' || a.name === 'no_access')) continue;
      // A service's own line: `=` clears whatever was there, the defaults' set too.
      r.lists.set(a.name, apply(a.name, r.lists.get(a.name) ?? [], a.op, a.values, true));
      if (a.op === '=') r.fromDefaults.delete(a.name);
      r.own.set(a.name, [...(r.own.get(a.name) ?? []), a]);
      continue;
    }
    if (why !== null) continue;
    r.single.set(id, a);
    setAt.set(id, a.line);
  }
  for (const [name, a] of defaults?.single ?? []) {
    if (!r.single.has(name)) {
      r.single.set(name, a);
      r.fromDefaults.add(name);
    }
  }
  return r;
}
