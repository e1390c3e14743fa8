// A reload's hand-over of a port (SPEC §4: the new socket is open before the
// old one is closed) where the new address overlaps the old one, which the
// kernel refuses to bind while the old socket is open unless both sockets
// have SO_REUSEPORT and the same owner: the old one gets it late, on its open
// socket; the new one before its bind (bindInet's `reusePort`). Once the old
// one is closed the new one gives it up again (releasePort), so that no other
// socket can join the port. Also what the old socket's backlog holds, taken
// before it closes (a connection queued but not accepted is reset by close).
import { AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, O_CLOEXEC, O_NONBLOCK, POLLIN, SO_REUSEPORT, SOCK_STREAM, SOL_SOCKET } from './constants.js';
import { SysError, errnoError } from './errors.js';
import { loadSys } from './load.js';
import { inetAddress } from './sockaddr.js';
import { intOption } from './sockets.js';

/** Sets or clears SO_REUSEPORT on an open (even listening) socket. */
export function setReusePort(fd: number, on: boolean): SysError | null {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  return sys.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, intOption(on ? 1 : 0), 4) < 0 ? errnoError(sys.errno()) : null;
}

/** What a socket is bound to, as far as releasePort needs to know. */
export interface BoundInet {
  type: 'stream' | 'dgram';
  host: string;
  port: number;
  ipv6Only: boolean;
}

/**
 * Clears SO_REUSEPORT on a socket that had it for a hand-over. For udp that
 * is all. For tcp the kernel also remembers, per port, that a socket with
 * SO_REUSEPORT bound there, and lets a later one of the same user with
 * SO_REUSEPORT bind without looking at the sockets already there (its
 * "fastreuseport" shortcut); a socket bound on that port without SO_REUSEPORT
 * makes it forget. So one is bound and closed at once (never listening) at an
 * address the kernel lets sit beside this socket: the other family's
 * loopback. A dual-stack wildcard socket (`::`, IPv4 and IPv6) leaves no such
 * address: there, until it closes, a program of superd's own user that sets
 * SO_REUSEPORT itself could still join the port (others cannot; see
 * man/superd.8, RELOAD). Returns why the port stays joinable, or null.
 */
export function releasePort(fd: number, bound: BoundInet): SysError | null {
  const cleared = setReusePort(fd, false);
  if (cleared !== null || bound.type === 'dgram') return cleared;
  const v4 = !bound.host.includes(':');
  if (!v4 && bound.host === '::' && !bound.ipv6Only) return new SysError('EINVAL', 'a dual-stack socket leaves no address to reset the port with');
  return bindAndClose(v4 ? '::1' : '127.0.0.1', bound.port);
}

/** A tcp socket bound at host:port without SO_REUSEPORT (IPV6_V6ONLY for IPv6), closed at once. */
function bindAndClose(host: string, port: number): SysError | null {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  const where = inetAddress(sys, host, port);
  if (where instanceof SysError) return where;
  const fd = sys.socket(where.family, SOCK_STREAM | O_CLOEXEC, 0);
  if (fd < 0) return errnoError(sys.errno());
  const v6only = where.family !== AF_INET6 || sys.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, intOption(1), 4) === 0;
  const ok = v6only && sys.bind(fd, where.addr, where.length) === 0;
  const error = ok ? null : errnoError(sys.errno(), `${host}:${port}`);
  sys.close(fd);
  return error;
}

/**
 * A classic BPF socket filter that drops a tcp segment with SYN set and ACK
 * clear (a new client's first segment) and keeps every other. A tcp socket
 * filter sees the segment from its tcp header on: byte 13 holds the flags.
 */
const DROP_SYN = [
  [0x30, 0, 0, 13], // ldb [13]
  [0x54, 0, 0, 0x12], // and #(SYN|ACK)
  [0x15, 0, 1, 0x02], // jeq #SYN → next, else skip one
  [0x06, 0, 0, 0], // ret #0: dropped
  [0x06, 0, 0, 0xffffffff], // ret #-1: kept whole
] as const;

/**
 * A listening socket about to close stops taking new clients: their SYN is
 * dropped, so they send it again (a second later) and find its replacement.
 * Handshakes under way end as before, in its backlog. Connections accepted
 * from it afterwards inherit the filter, which drops nothing of theirs.
 */
export function dropNewHandshakes(fd: number): SysError | null {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  const program = Buffer.alloc(DROP_SYN.length * 8);
  DROP_SYN.forEach(([code, jt, jf, k], i) => {
    program.writeUInt16LE(code, i * 8);
    program.writeUInt8(jt, i * 8 + 2);
    program.writeUInt8(jf, i * 8 + 3);
    program.writeUInt32LE(k, i * 8 + 4);
  });
  return sys.attachFilter(fd, program, DROP_SYN.length) < 0 ? errnoError(sys.errno()) : null;
}

/**
 * Accepts every connection waiting in a listening socket's backlog, without
 * ever blocking (each accept only after poll says one waits): the new
 * descriptors, close-on-exec and non-blocking. Stops at the first accept that
 * fails (nothing left, or out of descriptors: those left are reset by close).
 */
export function acceptWaiting(fd: number): number[] {
  const sys = loadSys();
  if (sys instanceof SysError) return [];
  const taken: number[] = [];
  while ((sys.pollIn(fd) & POLLIN) !== 0) {
    const conn = sys.accept(fd, O_CLOEXEC | O_NONBLOCK);
    if (conn < 0) break;
    taken.push(conn);
  }
  return taken;
}
