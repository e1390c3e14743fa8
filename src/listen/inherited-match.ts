// Which inherited socket (systemd's socket activation, inherited.ts) a
// service adopts (SPEC §4): the one named after it in LISTEN_FDNAMES, else
// the one bound to the address its definition would bind. Pure: the facts of
// each socket are read once at start.
import { isIPv6 } from 'node:net';
import { describeAddress, type ServiceDefinition } from '../config/types.js';
import { inetTargets } from './inet.js';

/** A socket superd was started with, as far as matching needs to know. */
export interface InheritedFacts {
  type: 'stream' | 'dgram';
  family: 'inet4' | 'inet6' | 'unix';
  /** '0.0.0.0', '::', '127.0.0.1'…, or the unix socket's path. */
  host: string;
  /** 0 for unix. */
  port: number;
  ipv6Only: boolean;
  listening: boolean;
  /** Its LISTEN_FDNAMES entry; systemd's default is "unknown" or the socket unit's name. */
  name: string;
  /**
   * A socket superd made itself and passed through an upgrade in place
   * (src/upgrade/): the address of the service (`name`) it was made for. It
   * goes to that service only, and only while its address is the same.
   */
  boundFor?: string;
}

/** Whether the socket an upgrade passed is still def's: the same service, at the same address. */
function stillFor(def: ServiceDefinition, s: InheritedFacts): boolean {
  return s.name === def.name && s.boundFor === describeAddress(def) && fits(def, s);
}

/** The kind of socket def needs: a listening stream socket, a udp socket, a unix stream socket. */
function fits(def: ServiceDefinition, s: InheritedFacts): boolean {
  if (def.protocol === 'unix') return s.family === 'unix' && s.type === 'stream' && s.listening;
  if (s.family === 'unix') return false;
  return def.protocol.startsWith('udp') ? s.type === 'dgram' : s.type === 'stream' && s.listening;
}

/** One spelling per IPv6 address ('0:0::1' is '::1'), as inet_ntop writes it; scoped ones as written. */
function canonical(host: string): string {
  if (!isIPv6(host) || host.includes('%')) return host;
  try {
    return new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host;
  }
}

/**
 * Whether s is bound where def would bind: a unix socket at its path; an inet
 * socket on its port and first address (SPEC §2: `tcp` with no `bind` is one
 * dual-stack `[::]:P` socket), or on the plain IPv4 one where the host has no
 * IPv6 (what superd would bind itself there).
 */
export function addressMatches(def: ServiceDefinition, s: InheritedFacts, hostHasIPv6: boolean): boolean {
  if (s.boundFor !== undefined) return stillFor(def, s);
  if (!fits(def, s)) return false;
  if (def.protocol === 'unix') return s.host === def.path;
  if (s.port !== (def.port ?? 0)) return false;
  const targets = inetTargets(def);
  const usable = hostHasIPv6 ? targets.slice(0, 1) : targets;
  return usable.some((t) => {
    if (canonical(t.host) !== canonical(s.host)) return false;
    return s.family === 'inet4' || t.ipv6Only === s.ipv6Only;
  });
}

/** Whether s is the one named after def (and of the kind def needs). */
export function nameMatches(def: ServiceDefinition, s: InheritedFacts): boolean {
  if (s.boundFor !== undefined) return stillFor(def, s);
  return s.name === def.name && fits(def, s);
}

/**
 * The socket def adopts among `free`: the one it had at start (`startedWith`
 * names that service) if it still matches def, else a name match, else an
 * address match; null when none fits.
 */
export function socketFor<T extends InheritedFacts>(def: ServiceDefinition, free: readonly T[], hostHasIPv6: boolean, startedWith: (s: T) => string | undefined = () => undefined): T | null {
  const named = free.filter((s) => nameMatches(def, s));
  const bound = free.filter((s) => addressMatches(def, s, hostHasIPv6));
  const fitting = [...named, ...bound];
  return fitting.find((s) => startedWith(s) === def.name) ?? fitting[0] ?? null;
}

/**
 * The first load's adoptions: every name match before any address match (a
 * service must not take, by address, the socket named after another), each
 * socket to one service at most. Returns socket → service name; a socket
 * left out matches no service.
 */
export function assignAtStart<T extends InheritedFacts>(defs: readonly ServiceDefinition[], sockets: readonly T[], hostHasIPv6: boolean): Map<T, string> {
  const taken = new Map<T, string>();
  const unassigned: ServiceDefinition[] = [];
  for (const def of defs) {
    const named = sockets.find((s) => !taken.has(s) && nameMatches(def, s));
    if (named === undefined) unassigned.push(def);
    else taken.set(named, def.name);
  }
  for (const def of unassigned) {
    const bound = sockets.find((s) => !taken.has(s) && addressMatches(def, s, hostHasIPv6));
    if (bound !== undefined) taken.set(bound, def.name);
  }
  return taken;
}
