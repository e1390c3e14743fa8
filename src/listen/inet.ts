// What every tcp and udp socket kind shares: which addresses a service binds
// (SPEC §2: `tcp`/`udp` serve IPv4 and IPv6 on one dual-stack socket where the
// host has IPv6, plain IPv4 where it has not), and how a failed bind reads.
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { releasePort, setReusePort, type BoundInet } from '../sys/socket-handover.js';
import type { PortHandOver } from './connection.js';

export interface InetTarget {
  host: string;
  ipv6Only: boolean;
}

export function inetTargets(def: ServiceDefinition): InetTarget[] {
  const family = def.protocol.endsWith('6') ? 6 : def.protocol.endsWith('4') ? 4 : 0;
  if (def.bind !== null) return [{ host: def.bind, ipv6Only: family === 6 }];
  if (family === 4) return [{ host: '0.0.0.0', ipv6Only: false }];
  if (family === 6) return [{ host: '::', ipv6Only: true }];
  return [
    { host: '::', ipv6Only: false },
    { host: '0.0.0.0', ipv6Only: false },
  ];
}

/** The errno name for scripts, and what it means for an operator. */
export function describeBindError(code: string | undefined, message: string): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'address already in use (EADDRINUSE): another program listens on this port';
    case 'EACCES':
      return 'permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE';
    case 'EADDRNOTAVAIL':
      return 'address not available on this host (EADDRNOTAVAIL)';
    default:
      return message;
  }
}

export interface Bound<T> {
  value: T;
  /** `[::]:7000`, `127.0.0.1:7000`. */
  address: string;
  note: string | null;
}

/**
 * Binds the first target that works. Only a missing IPv6 stack moves on from
 * the dual-stack socket to plain IPv4; any other error is the answer.
 */
export async function bindFirst<T>(
  def: ServiceDefinition,
  bind: (target: InetTarget, port: number) => Promise<T | { code?: string; message: string }>,
  isBound: (r: T | { code?: string; message: string }) => r is T,
): Promise<Bound<T> | SuperdError> {
  const port = def.port ?? 0;
  let last: { code?: string; message: string } | null = null;
  for (const [i, target] of inetTargets(def).entries()) {
    const r = await bind(target, port);
    if (isBound(r)) {
      const note = i > 0 ? `no IPv6 on this host (${last?.code ?? 'unknown'}): serving IPv4 only` : null;
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      return { value: r, address: `${host}:${port}`, note };
    }
    last = r;
    if (r.code !== 'EAFNOSUPPORT' && r.code !== 'EADDRNOTAVAIL') break;
  }
  return { code: 'bind_failed', message: last === null ? 'cannot bind' : describeBindError(last.code, last.message) };
}

/**
 * The hand-over of a port superd bound natively at `bound` (fd its
 * descriptor, while isOpen()): shared with the replacement, then the
 * replacement's alone (sys/socket-handover.ts). Only a tcp nowait socket
 * turns clients away and drains its backlog (`nowait`); a udp or wait socket
 * has nothing to drain.
 */
export function sharedPort(fd: number, bound: BoundInet, isOpen: () => boolean, nowait?: Pick<PortHandOver, 'turnAway' | 'drain'>): PortHandOver {
  return {
    share: () => isOpen() && setReusePort(fd, true) === null,
    unshare: () => unshareWhenAlone(fd, bound, isOpen),
    turnAway: nowait?.turnAway ?? (() => null),
    drain: nowait?.drain ?? (() => undefined),
  };
}

/** How often, and how far apart, unshareWhenAlone tries. */
const UNSHARE_TRIES = 20;
const UNSHARE_EVERY_MS = 50;

/**
 * A hand-over's end (sys/socket-handover.ts, releasePort), tried again
 * while it finds the port busy: a handler being started (between its fork
 * and its exec) holds a copy of every descriptor, the old socket's too, for
 * a moment after superd has closed its own. (A wait handler holding the old
 * socket may hold it longer than these tries.)
 */
export function unshareWhenAlone(fd: number, bound: BoundInet, open: () => boolean, tries = UNSHARE_TRIES): void {
  if (!open()) return;
  const failed = releasePort(fd, bound);
  if (failed?.code === 'EADDRINUSE' && tries > 1) setTimeout(() => unshareWhenAlone(fd, bound, open, tries - 1), UNSHARE_EVERY_MS).unref();
}
