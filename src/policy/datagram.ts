// Which udp sources a builtin must not answer (SPEC §2), so that superd is
// never a reflector (a small forged request, a reply to a victim) nor one end
// of a loop (two echo services answering each other for ever). Pure: the
// source, and what is known of the socket it came in on, of superd and of the
// host, are arguments, so every rule is tested without sockets;
// listen/udpfacts.ts keeps those facts.
import { ipv4Value, ipv6Groups } from './ipaddr.js';

/** NFS's port: above 1024, yet a server's. */
export const NFS_PORT = 2049;

export interface PortSet {
  has(port: number): boolean;
}

export interface Ipv4Set {
  has(address: number): boolean;
}

/** What is known of the socket a datagram came in on; fixed when it is bound. */
export interface DatagramSocket {
  /** IPv4 datagrams can arrive on it: udp4, or a dual-stack udp6 socket. */
  readonly ipv4: boolean;
  /** Bound to a loopback address: everything it receives came in over loopback. */
  readonly loopback: boolean;
}

/** What is known of superd and its host now (kept current by listen/udpfacts.ts). */
export interface DatagramHost {
  /** The ports on which superd serves a udp builtin now, on any address. */
  readonly builtinPorts: PortSet;
  /** The broadcast (and all-zeros host) addresses of the host's IPv4 subnets, as 32-bit numbers. */
  readonly broadcasts: Ipv4Set;
  /** A 127.0.0.0/8 source may have come in on an interface other than loopback (route_localnet), or that is not known. */
  readonly localnetFromOutside: boolean;
}

export interface DatagramContext {
  readonly socket: DatagramSocket;
  readonly host: DatagramHost;
}

// One per process, reused: the rules run for every datagram, and a flood of
// them must not be a flood of garbage too. Never held across calls.
const groups = new Uint16Array(8);

/**
 * Why a datagram from `address`:`port` must get no reply, or null to answer
 * it. `address` is as udp.ts reports it: an IPv4 client of a dual-stack socket
 * is plain IPv4 (`::ffff:a.b.c.d` is taken the same way).
 *
 * A source port below 1024, NFS's 2049, or one on which superd itself serves a
 * udp builtin is a server's: a reply there may be answered again, for ever.
 * A multicast or broadcast source would make the reply go to many hosts;
 * 0.0.0.0/8, 255.0.0.0/8 and `::` are no sender at all.
 *
 * A v4-mapped source (`::ffff:a.b.c.d`) is an IPv4 client where IPv4 can
 * arrive (a dual-stack socket: the kernel writes IPv4 senders so), judged by
 * the IPv4 rules; on a socket that can only receive IPv6 it is an IPv6 packet
 * with a forged source, meant to slip past the IPv4 rules, and is refused
 * (Linux already drops those on input; this does not depend on it). The
 * IPv4-compatible form `::a.b.c.d` (deprecated by RFC 4291; OpenBSD's inetd
 * refuses it too) is refused: no sender uses it, and a tunnel may deliver a
 * reply to it as IPv4, past the IPv4 rules.
 *
 * 127.0.0.0/8 only ever arrives over loopback where Linux drops it from other
 * interfaces as a martian, which it does unless route_localnet is on (as
 * kube-proxy sets it). Node does not say which interface a datagram came in
 * on, so 127.0.0.0/8 is answered on a socket bound to a loopback address, and
 * on any other socket only while route_localnet is off everywhere. `::1` is
 * answered: Linux drops it from any interface but loopback (RFC 4291), with
 * no setting to allow it.
 */
export function datagramRefusal(address: string, port: number, ctx: DatagramContext): string | null {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return `invalid source port ${port}`;
  if (port < 1024) return `source port ${port} < 1024`;
  if (port === NFS_PORT) return `source port ${port} (NFS)`;
  if (ctx.host.builtinPorts.has(port)) return `source port ${port} is one of superd's udp builtins`;
  let v4 = ipv4Value(address);
  if (v4 < 0) {
    if (!ipv6Groups(address, groups)) return `unparseable source address '${address}'`;
    if (!isIpv4Mapped(groups)) return ipv6Refusal(groups);
    v4 = groups[6] * 0x10000 + groups[7];
  }
  if (!ctx.socket.ipv4) return 'v4-mapped source on an IPv6-only socket';
  return ipv4Refusal(v4, ctx);
}

function ipv4Refusal(v4: number, ctx: DatagramContext): string | null {
  const first = v4 >>> 24;
  if (first === 0) return 'source in 0.0.0.0/8';
  if (v4 === 0xffffffff) return 'broadcast source';
  if (first === 255) return 'source in 255.0.0.0/8';
  if (first >= 224 && first <= 239) return 'multicast source';
  if (first === 127 && !ctx.socket.loopback && ctx.host.localnetFromOutside) {
    return 'source in 127.0.0.0/8 on a socket not bound to loopback, while route_localnet may let it in from outside';
  }
  if (ctx.host.broadcasts.has(v4)) return 'broadcast source';
  return null;
}

function ipv6Refusal(g: Uint16Array): string | null {
  if (g[0] >= 0xff00) return 'multicast source';
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) {
    if (g[6] === 0 && g[7] === 0) return 'unspecified source';
    if (g[6] === 0 && g[7] === 1) return null; // ::1
    return 'v4-compatible source';
  }
  return null;
}

function isIpv4Mapped(g: Uint16Array): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/**
 * What a udp socket bound to `host` can receive. A udp6 socket that is not
 * IPv6-only receives IPv4 where it is bound to `::` (or to a v4-mapped
 * address); bound to any other IPv6 address it receives IPv6 only.
 */
export function datagramSocket(host: string, ipv6Only: boolean): DatagramSocket {
  const v4 = ipv4Value(host);
  if (v4 >= 0) return { ipv4: true, loopback: v4 >>> 24 === 127 };
  const g = new Uint16Array(8);
  if (!ipv6Groups(host, g)) return { ipv4: false, loopback: false };
  if (isIpv4Mapped(g)) return { ipv4: !ipv6Only, loopback: g[6] >>> 8 === 127 };
  const upper = g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0 && g[6] === 0;
  if (upper && g[7] === 0) return { ipv4: !ipv6Only, loopback: false };
  return { ipv4: false, loopback: upper && g[7] === 1 };
}
