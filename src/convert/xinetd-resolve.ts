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
// xinetd's value parsers: the message it logs before "Error parsing
// attribute NAME - DISABLING SERVICE", or null when it takes the value.
// Names and keywords compare case-insensitively, as xinetd compares them.

const SOCKET_TYPES = ['stream', 'dgram', 'raw', 'seqpacket'];
const TYPES = ['RPC', 'INTERNAL', 'UNLISTED', 'SPECIAL', 'TCPMUX', 'TCPMUXPLUS'];
/** xinetd 2.3.15's flags: there is no DISABLE flag (`disable = yes` is the attribute). */
export const FLAGS = ['REUSE', 'INTERCEPT', 'NORETRY', 'IDONLY', 'NAMEINARGS', 'NODELAY', 'KEEPALIVE', 'NOLIBWRAP', 'SENSOR', 'IPv4', 'IPv6', 'LABELED'];
const SUCCESS_LOG = ['HOST', 'DURATION', 'EXIT', 'PID', 'USERID', 'TRAFFIC'];
const FAILURE_LOG = ['HOST', 'ATTEMPT', 'USERID'];
const FACILITIES = ['daemon', 'auth', 'authpriv', 'user', 'mail', 'lpr', 'news', 'uucp', 'ftp', ...Array.from({ length: 8 }, (_, i) => `local${i}`)];
const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

const among = (word: string, list: readonly string[]): boolean => list.some((w) => w.toLowerCase() === word.toLowerCase());
const isCount = (v: string): boolean => v.toUpperCase() === 'UNLIMITED' || /^\d+$/.test(v);
const isLimit = (v: string): boolean => v.toUpperCase() === 'UNLIMITED' || /^\d+[kKmM]?$/.test(v);
const firstBad = (values: readonly string[], list: readonly string[]): string | undefined => values.find((v) => !among(v, list));

function yesNo(name: string, label = `Bad value for ${name}`): (v: string[]) => string | null {
  return ([v = '']) => (among(v, ['yes', 'no']) ? null : `${label}: ${v}`);
}

function timeInterval(v: string): boolean {
  const m = /^(\d{1,2}):(\d{1,2})-(\d{1,2}):(\d{1,2})$/.exec(v);
  if (m === null) return false;
  const [h1, m1, h2, m2] = m.slice(1).map(Number) as [number, number, number, number];
  return h1 <= 23 && h2 <= 23 && m1 <= 59 && m2 <= 59 && h1 * 60 + m1 < h2 * 60 + m2;
}

function logType(values: string[]): string | null {
  const [kind = '', a, b, c] = values;
  if (among(kind, ['SYSLOG'])) {
    if (values.length < 2 || values.length > 3) return 'wrong number of arguments';
    if (!among(a ?? '', FACILITIES)) return `Unknown syslog facility: ${a ?? ''}`;
    if (b !== undefined && !among(b, LEVELS)) return `Unknown syslog level: ${b}`;
    return null;
  }
  if (among(kind, ['FILE'])) {
    if (values.length < 2 || values.length > 4) return 'wrong number of arguments';
    if (b !== undefined && !/^\d+[kKmM]?$/.test(b)) return 'soft limit is invalid';
    if (c !== undefined && !/^\d+[kKmM]?$/.test(c)) return 'hard limit is invalid';
    return null;
  }
  return `Unknown log type: ${kind}`;
}

function addresses(values: string[]): string | null {
  for (const v of values) {
    // A factorized address (10.1.{2,3}) has its commas inside braces.
    if (v.includes(',') && !v.includes('{')) return `Address: ${v} has a comma in it - remove the comma`;
    if (v.includes('{') && convertAddresses([v]).blocks.length === 0) return `Bad address: ${v}`;
  }
  return null;
}

const PARSERS: ReadonlyMap<string, (values: string[], op: XAttr['op']) => string | null> = new Map([
  ['socket_type', ([v = '']) => (among(v, SOCKET_TYPES) ? null : `Bad socket type: ${v}`)],
  ['wait', yesNo('wait')],
  ['disable', yesNo('disable', 'Bad value')],
  ['groups', yesNo('groups')],
  ['v6only', yesNo('v6only')],
  ['mdns', yesNo('mdns')],
  ['server_args', (v) => (v.length === 0 ? 'server_args has no value' : null)],
  ['instances', ([v = '']) => (isCount(v) ? null : `Number of instances is invalid: ${v}`)],
  ['per_source', ([v = '']) => (isCount(v) ? null : `Number of per source instances is invalid: ${v}`)],
  ['cps', ([n = '', wait = '']) => (!/^\d+$/.test(n) ? 'cps argument not a number' : !/^\d+$/.test(wait) ? 'cps time argument not a number' : null)],
  ['port', ([v = '']) => (/^\d+$/.test(v) && Number(v) < 65536 ? null : 'port number is invalid')],
  ['type', (v) => (v.length === 0 ? 'type has no value' : firstBad(v, TYPES) === undefined ? null : `Bad service type: ${firstBad(v, TYPES) ?? ''}`)],
  ['flags', (v) => (v.length === 0 ? 'flags has no value' : firstBad(v, FLAGS) === undefined ? null : `Bad service flag: ${firstBad(v, FLAGS) ?? ''}`)],
  ['log_on_success', (v) => (firstBad(v, SUCCESS_LOG) === undefined ? null : `Bad log_on_success flag: ${firstBad(v, SUCCESS_LOG) ?? ''}`)],
  ['log_on_failure', (v) => (firstBad(v, FAILURE_LOG) === undefined ? null : `Bad log_on_failure flag: ${firstBad(v, FAILURE_LOG) ?? ''}`)],
  ['log_type', logType],
  ['only_from', addresses],
  ['no_access', addresses],
  ['env', (v, op) => (op === '-=' ? "operator '-=' not supported for env attribute" : v.some((w) => !w.includes('=')) ? `${v.find((w) => !w.includes('=')) ?? ''} has no '='` : null)],
  ['access_times', (v) => (v.length === 0 ? 'access_times has no value' : v.every(timeInterval) ? null : 'incorrect time interval')],
  ['nice', ([v = '']) => (/^[+-]?\d+$/.test(v) ? null : `Error parsing: ${v}`)],
  ['umask', ([v = '']) => (/^[0-7]+$/.test(v) && parseInt(v, 8) <= 0o777 ? null : 'umask argument is invalid.')],
  ['deny_time', ([v = '']) => (among(v, ['FOREVER', 'NEVER']) || /^[+-]?\d+$/.test(v) ? null : `Error parsing: ${v}`)],
  ['max_load', ([v = '']) => (/^[+-]?(\d+\.?\d*|\.\d+)/.test(v) && Number.parseFloat(v) !== 0 ? null : 'error reading max_load argument')],
  ['rlimit_as', ([v = '']) => (isLimit(v) ? null : `Address space limit is invalid: ${v}`)],
  ['rlimit_files', ([v = '']) => (isCount(v) ? null : `Files limit is invalid: ${v}`)],
  ['rlimit_cpu', ([v = '']) => (isCount(v) ? null : `CPU limit is invalid: ${v}`)],
  ['rlimit_data', ([v = '']) => (isLimit(v) ? null : `Data limit is invalid: ${v}`)],
  ['rlimit_rss', ([v = '']) => (isLimit(v) ? null : `RSS limit is invalid: ${v}`)],
  ['rlimit_stack', ([v = '']) => (isLimit(v) ? null : `Stack limit is invalid: ${v}`)],
  ['rpc_number', ([v = '']) => (/^\d+$/.test(v) ? null : `Error parsing: ${v}`)],
  // A port that is no number is looked up as a tcp service name, on xinetd's host.
  ['redirect', ([, port = '']) => (!/^\d+$/.test(port) || (Number(port) > 0 && Number(port) < 65536) ? null : 'port number invalid')],
]);

/** xinetd's message for a value it refuses, or null. */
function refusal(a: XAttr): string | null {
  return PARSERS.get(a.name)?.(a.values, a.op) ?? null;
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
