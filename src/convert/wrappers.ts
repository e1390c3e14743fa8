// hosts.allow and hosts.deny, as tcpd and xinetd's libwrap read them
// (hosts_access(5), hosts_options(5) as Debian builds them), turned into
// superd's only_from and no_access for one daemon name.
//
// tcpd's verdict for a client is the first rule, hosts.allow's before
// hosts.deny's, whose daemon list and client list both match; no match lets
// the client in. superd has no such table, but every rule superd can read
// names a set of addresses, so the clients a daemon lets in are a set of
// addresses computed exactly (addrset.ts) — except where a rule matches by
// something superd cannot know at start (a host name, an ident user, a
// netgroup, the server address): there each pattern is a lower and an upper
// bound, and superd lets in only the clients tcpd certainly let in. The
// converted service never lets in anyone tcpd refused.

import { readFile } from 'node:fs/promises';
import { fail, ok, type Result } from '../errors.js';
import { AddrSet } from './addrset.js';
import { mappedAs, noEquivalent } from './map-common.js';
import { convertError, setKey, type ConvertError, type Draft, type DraftKey } from './types.js';

export interface WrapRule {
  /** `hosts.allow:3`. */
  where: string;
  daemons: string[];
  clients: string[];
  /** What the rule does to the clients it matches, from its file and its options. */
  verdict: 'allow' | 'deny';
  /** Why the verdict is not the file's (twist, a bad option…), or null. */
  verdictWhy: string | null;
}

export interface HostsAccess {
  allowFile: string;
  denyFile: string;
  /** hosts.allow's rules, then hosts.deny's. */
  rules: WrapRule[];
}

/** A set known only between two bounds: `lo` certainly matched, `hi` perhaps. */
interface Bounds {
  lo: AddrSet;
  hi: AddrSet;
  /** Why lo and hi differ: one entry per pattern superd cannot evaluate. */
  unknown: string[];
}

const exact = (s: AddrSet): Bounds => ({ lo: s, hi: s, unknown: [] });
const unknowable = (why: string, hi: AddrSet = AddrSet.all): Bounds => ({ lo: AddrSet.none, hi, unknown: [why] });

// ---------------------------------------------------------------------------
// Reading the tables.

/** tcpd's split_at: the text before the first `sep` outside `[…]`, and the rest (null if none). */
function splitAt(text: string, sep: string): [string, string | null] {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (c === sep && depth === 0) return [text.slice(0, i), text.slice(i + 1)];
  }
  return [text, null];
}

const words = (list: string): string[] => list.split(/[\s,]+/).filter((w) => w !== '');

/** The options keywords hosts_options(5) knows; any other makes tcpd refuse the client. */
const OPTIONS = new Set(['severity', 'allow', 'deny', 'spawn', 'twist', 'rfc931', 'setenv', 'umask', 'user', 'nice', 'keepalive', 'linger', 'banners']);

/** The verdict of a rule's options (`: spawn … : allow`), or null when they leave the file's. */
function optionsVerdict(options: string): { verdict: 'allow' | 'deny'; why: string } | null {
  // Options are separated by ':' not preceded by a backslash.
  for (const raw of options.split(/(?<!\\):/)) {
    const option = raw.trim();
    if (option === '') continue;
    const keyword = (/^[A-Za-z0-9_]+/.exec(option)?.[0] ?? '').toLowerCase();
    if (keyword === 'allow') return { verdict: 'allow', why: "its option 'allow'" };
    if (keyword === 'deny') return { verdict: 'deny', why: "its option 'deny'" };
    if (keyword === 'twist') return { verdict: 'deny', why: "its option 'twist' ran another command instead of the service" };
    if (!OPTIONS.has(keyword)) return { verdict: 'deny', why: `tcpd refused the clients it matches: '${option}' is not an option it knows` };
  }
  return null;
}

export function parseHostsTable(file: string, text: string, verdict: 'allow' | 'deny'): WrapRule[] {
  const rules: WrapRule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i] ?? '';
    // A backslash at the end of a line continues it.
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + (lines[++i] ?? '');
    // tcpd takes only a '#' in the first column as a comment.
    if (line.startsWith('#') || line.trim() === '') continue;
    const [daemons, rest] = splitAt(line, ':');
    if (rest === null) continue; // tcpd warns "missing ':' separator" and skips it
    const [clients, options] = splitAt(rest, ':');
    const decided = options === null ? null : optionsVerdict(options);
    rules.push({
      where: `${file}:${start}`,
      daemons: words(daemons),
      clients: words(clients),
      verdict: decided?.verdict ?? verdict,
      verdictWhy: decided?.why ?? null,
    });
  }
  return rules;
}

async function readTable(file: string): Promise<Result<string, ConvertError>> {
  try {
    return ok(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // tcpd reads a missing table as an empty one.
    if (code === 'ENOENT') return ok('');
    return fail(convertError('unreadable', file, 0,
      `cannot read it (${code ?? String(e)}), and without it the access rules tcpd and xinetd applied are unknown: run as root, or name a copy with --hosts-allow and --hosts-deny`));
  }
}

export async function loadHostsAccess(allowFile: string, denyFile: string): Promise<Result<HostsAccess, ConvertError>> {
  const allow = await readTable(allowFile);
  if (!allow.ok) return allow;
  const deny = await readTable(denyFile);
  if (!deny.ok) return deny;
  return ok({ allowFile, denyFile, rules: [...parseHostsTable(allowFile, allow.value, 'allow'), ...parseHostsTable(denyFile, deny.value, 'deny')] });
}

// ---------------------------------------------------------------------------
// Matching.

type Tri = 'yes' | 'no' | 'maybe';

/** tcpd's list_match: a match before EXCEPT counts unless the list after EXCEPT matches too. */
function listMatch(tokens: readonly string[], match: (token: string) => Tri): Tri {
  const except = tokens.findIndex((t) => t.toUpperCase() === 'EXCEPT');
  const head = except < 0 ? tokens : tokens.slice(0, except);
  const results = head.map(match);
  const any: Tri = results.includes('yes') ? 'yes' : results.includes('maybe') ? 'maybe' : 'no';
  if (any === 'no' || except < 0) return any;
  const rest = listMatch(tokens.slice(except + 1), match);
  if (rest === 'yes') return 'no';
  return rest === 'no' ? any : 'maybe';
}

/** A shell-style pattern, as Debian's tcpd takes `*` and `?` in names. */
function glob(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(text);
}

/** tcpd's string_match for a daemon name. */
function daemonToken(token: string, daemon: string): Tri {
  const at = token.indexOf('@', 1);
  if (at > 0) {
    // `daemon@host`: also the server's own address, which depends on the connection.
    return daemonToken(token.slice(0, at), daemon) === 'no' ? 'no' : 'maybe';
  }
  const t = token.toLowerCase();
  const d = daemon.toLowerCase();
  if (t === 'all' || t === 'known') return 'yes';
  if (t === 'unknown' || t === 'paranoid') return 'no';
  if (t.startsWith('.')) return d.endsWith(t) ? 'yes' : 'no';
  if (t.endsWith('.')) return d.startsWith(t) ? 'yes' : 'no';
  if (/[*?]/.test(t)) return glob(t, d) ? 'yes' : 'no';
  return t === d ? 'yes' : 'no';
}

/** A dotted mask (255.255.0.0) as a prefix length, or null if its bits are not contiguous. */
function maskPrefix(mask: string): number | null {
  const m = AddrSet.parse(mask);
  if (m === null || !/^\d+\.\d+\.\d+\.\d+$/.test(mask)) return null;
  const bits = mask.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  return /^1*0*$/.test(bits) ? bits.indexOf('0') < 0 ? 32 : bits.indexOf('0') : null;
}

/** `10.0.0.1`, `10.1.` (a prefix), `10.0.0.0/255.0.0.0`, `10.0.0.0/8`. */
function numericToken(token: string, where: string): Bounds {
  const unreadable = (): Bounds => unknowable(`${where}: '${token}' is not an address, prefix or net/mask superd reads`);
  const slash = token.indexOf('/');
  if (slash > 0) {
    const net = token.slice(0, slash);
    const mask = token.slice(slash + 1);
    const prefix = /^\d{1,2}$/.test(mask) ? Number(mask) : maskPrefix(mask);
    if (AddrSet.parse(net) === null || !/^\d+\.\d+\.\d+\.\d+$/.test(net)) return unreadable();
    if (prefix === null) return unknowable(`${where}: '${token}' has a mask whose bits are not contiguous`, AddrSet.ipv4);
    // Debian's tcpd turns `/0` into a mask that matches nobody (seen with tcpdmatch): whom it matches elsewhere is not known.
    if (prefix === 0 && /^\d+$/.test(mask)) return unknowable(`${where}: '${token}': tcpd reads a prefix length of 0 as matching nobody, another build may read it as everyone`, AddrSet.ipv4);
    const block = AddrSet.parse(`${net}/${prefix}`);
    if (block === null) return unreadable();
    // tcpd matches when (address & mask) == net: a net with bits outside its mask matches nobody.
    const canonical = block.blocks()[0];
    return exact(canonical === net || canonical === `${net}/${prefix}` ? block : AddrSet.none);
  }
  if (token.endsWith('.')) {
    const octets = token.slice(0, -1).split('.');
    if (octets.length > 3 || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255 && String(Number(o)) === o)) return unreadable();
    return exact(AddrSet.parse(`${[...octets, '0', '0', '0'].slice(0, 4).join('.')}/${8 * octets.length}`) ?? AddrSet.none);
  }
  const address = AddrSet.parse(token);
  return address === null || token.includes('/') ? unreadable() : exact(address);
}

/** The clients one client-list pattern matches. */
function clientToken(token: string, where: string): Bounds {
  const at = token.indexOf('@', 1);
  if (token.startsWith('@')) return unknowable(`${where}: '${token}' is a netgroup (NIS), which superd does not look up`);
  if (at > 0) {
    const user = token.slice(0, at);
    const host = clientToken(token.slice(at + 1), where);
    if (user.toUpperCase() === 'ALL') return host;
    return { lo: AddrSet.none, hi: host.hi, unknown: [`${where}: '${token}' names the client's user (ident, RFC 1413), which superd does not ask`, ...host.unknown] };
  }
  const upper = token.toUpperCase();
  if (upper === 'ALL') return exact(AddrSet.all);
  if (['LOCAL', 'KNOWN', 'UNKNOWN', 'PARANOID'].includes(upper)) {
    return unknowable(`${where}: '${token}' matches by the client's host name, which superd does not look up`);
  }
  if (token.startsWith('/')) return unknowable(`${where}: '${token}' is a file of patterns, which superd does not read`);
  // An IPv6 pattern: `[2001:db8::]/32`, `[::1]`. tcpd never matches an IPv4 client against one, v4-mapped or not.
  const v6 = /^\[([^\]]+)\](?:\/(\d+))?$/.exec(token);
  if (v6 !== null) {
    const block = AddrSet.parse(v6[2] === undefined ? (v6[1] as string) : `${v6[1] as string}/${v6[2]}`);
    if (block === null || (v6[1] as string).includes('.')) return unknowable(`${where}: '${token}' is not an IPv6 address or block superd reads`);
    return exact(block.minus(AddrSet.ipv4));
  }
  // Digits, dots and slashes only: tcpd compares them with the client's address alone.
  if (/^[\d./]+$/.test(token)) return numericToken(token, where);
  return unknowable(`${where}: '${token}' is a host or domain name, which superd does not resolve`);
}

/** The clients a client list matches: tokens before EXCEPT, less those the rest matches. */
function clientList(tokens: readonly string[], where: string): Bounds {
  const except = tokens.findIndex((t) => t.toUpperCase() === 'EXCEPT');
  const head = (except < 0 ? tokens : tokens.slice(0, except)).map((t) => clientToken(t, where));
  const matched: Bounds = {
    lo: AddrSet.union(head.map((b) => b.lo)),
    hi: AddrSet.union(head.map((b) => b.hi)),
    unknown: head.flatMap((b) => b.unknown),
  };
  if (except < 0) return matched;
  const rest = clientList(tokens.slice(except + 1), where);
  return { lo: matched.lo.minus(rest.hi), hi: matched.hi.minus(rest.lo), unknown: [...matched.unknown, ...rest.unknown] };
}

export interface WrapVerdict {
  /** The rules whose daemon list may name the daemon. */
  rules: WrapRule[];
  /** The clients tcpd certainly let in. */
  allowed: AddrSet;
  /** Why some clients tcpd may have let in are not let in by superd. */
  narrowed: string[];
  /** Rules whose verdict is not their file's (options), for the comment. */
  notes: string[];
}

/** Whom tcpd lets in to `daemon`, as far as superd can tell without looking anything up. */
export function wrapVerdict(h: HostsAccess, daemon: string): WrapVerdict {
  const out: WrapVerdict = { rules: [], allowed: AddrSet.none, narrowed: [], notes: [] };
  let decidedLo = AddrSet.none;
  let decidedHi = AddrSet.none;
  let allowedHi = AddrSet.none;
  for (const rule of h.rules) {
    const applies = listMatch(rule.daemons, (t) => daemonToken(t, daemon));
    if (applies === 'no') continue;
    out.rules.push(rule);
    const clients = clientList(rule.clients, rule.where);
    const lo = applies === 'yes' ? clients.lo : AddrSet.none;
    if (applies === 'maybe') out.narrowed.push(`${rule.where}: its daemon list names a server address, which depends on the connection`);
    out.narrowed.push(...clients.unknown);
    if (rule.verdictWhy !== null) out.notes.push(`${rule.where}: ${rule.verdict === 'allow' ? 'lets in' : 'refuses'} the clients it matches (${rule.verdictWhy})`);
    if (rule.verdict === 'allow') {
      out.allowed = out.allowed.union(lo.minus(decidedHi));
      allowedHi = allowedHi.union(clients.hi.minus(decidedLo));
    }
    decidedLo = decidedLo.union(lo);
    decidedHi = decidedHi.union(clients.hi);
  }
  out.allowed = out.allowed.union(decidedHi.complement());
  allowedHi = allowedHi.union(decidedLo.complement());
  // Bounds that did not matter (an unknown pattern after everyone was decided) narrow nothing.
  if (out.allowed.equals(allowedHi)) out.narrowed = [];
  return out;
}

// ---------------------------------------------------------------------------
// Applying the verdict to a draft.

const keyOf = (d: Draft, name: string): DraftKey | undefined => d.keys.find((k) => k.key === name);

function setOf(value: string | undefined): AddrSet | null {
  if (value === undefined) return null;
  return AddrSet.union(value.split(/[\s,]+/).filter((w) => w !== '').map((w) => AddrSet.parse(w) ?? AddrSet.none));
}

function listed(rules: readonly WrapRule[]): string {
  return rules.map((r) => r.where).join(', ');
}

/**
 * Narrows the draft's only_from / no_access to the clients hosts.allow and
 * hosts.deny let in under each of `d.wrappedAs`; disables it when that is
 * nobody, or when superd cannot apply it (a tcp wait program accepts its
 * connections itself). Whether any rule named one of them.
 */
export function applyWrappers(d: Draft, h: HostsAccess): boolean {
  if (d.unservable !== null) return false;
  let ruled = false;
  for (const daemon of d.wrappedAs) {
    const v = wrapVerdict(h, daemon);
    if (v.rules.length === 0) continue;
    ruled = true;
    const what = `hosts.allow/hosts.deny for ${daemon} (${listed(v.rules)})`;
    const notes = v.notes.map((n) => mappedAs(syntaxOf(d), what, n));
    for (const why of v.narrowed) d.notes.push(noEquivalent(syntaxOf(d), what, `${why}: the clients only it would let in are not let in`));
    d.notes.push(...notes);
    if (v.allowed.isAll()) continue;
    if (v.allowed.isEmpty()) {
      d.disabled.push(`${what} let nobody in`);
      continue;
    }
    const protocol = keyOf(d, 'protocol')?.value ?? '';
    if (protocol.startsWith('tcp') && keyOf(d, 'wait')?.value === 'yes') {
      d.notes.push(noEquivalent(syntaxOf(d), what, 'the handler of a tcp wait service accepts its connections itself, superd never sees who connects'));
      d.disabled.push(`its ${what} cannot be applied to a tcp wait service`);
      continue;
    }
    restrict(d, v.allowed, what);
  }
  return ruled;
}

function syntaxOf(d: Draft): 'xinetd' | 'inetd' {
  return d.what.startsWith('service ') ? 'xinetd' : 'inetd';
}

/** only_from ∩ allowed, or no_access ∪ ¬allowed: whichever is shorter; both let in exactly (only_from \ no_access) ∩ allowed. */
function restrict(d: Draft, allowed: AddrSet, what: string): void {
  const onlyKey = keyOf(d, 'only_from');
  const noKey = keyOf(d, 'no_access');
  const only = setOf(onlyKey?.value) ?? AddrSet.all;
  const no = setOf(noKey?.value) ?? AddrSet.none;
  const narrowed = only.intersect(allowed);
  if (narrowed.minus(no).isEmpty()) {
    d.disabled.push(`its only_from and no_access together with ${what} let nobody in`);
    return;
  }
  const asOnly = narrowed.blocks();
  const asNo = no.union(allowed.complement()).blocks();
  const note = mappedAs(syntaxOf(d), what, 'applied here');
  if (asOnly.length <= asNo.length || onlyKey === undefined && asOnly.length <= 8) {
    if (onlyKey !== undefined) {
      onlyKey.value = asOnly.join(' ');
      onlyKey.notes.push(note);
    } else setKey(d, 'only_from', asOnly.join(' '), note);
  } else if (noKey !== undefined) {
    noKey.value = asNo.join(' ');
    noKey.notes.push(note);
  } else setKey(d, 'no_access', asNo.join(' '), note);
}

/** The lines above the first service, when hosts.allow or hosts.deny had rules for any service. */
export function wrappersHeader(h: HostsAccess): string[] {
  return [
    `# Rules of ${h.allowFile} and ${h.denyFile}, which tcpd and xinetd's libwrap applied,`,
    '# are written as only_from and no_access of the services they name.',
  ];
}
