// Whom hosts.allow and hosts.deny let in to one daemon name.
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

import { AddrSet } from '../addrset.js';
import type { HostsAccess, WrapRule } from './tables.js';

/** A set known only between two bounds: `lo` certainly matched, `hi` perhaps. */
interface Bounds {
  lo: AddrSet;
  hi: AddrSet;
  /** Why lo and hi differ: one entry per pattern superd cannot evaluate. */
  unknown: string[];
}

const exact = (s: AddrSet): Bounds => ({ lo: s, hi: s, unknown: [] });
const unknowable = (why: string, hi: AddrSet = AddrSet.all): Bounds => ({ lo: AddrSet.none, hi, unknown: [why] });

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
