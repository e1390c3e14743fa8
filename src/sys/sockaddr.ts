// Socket addresses, written and read through their koffi structs: inet
// addresses as Node writes them, unix paths and abstract names.
import { isIP } from 'node:net';
import { AF_INET, AF_INET6, AF_UNIX } from './constants.js';
import { SysError } from './errors.js';
import { koffi } from './koffi.js';
import type { Sys } from './load.js';
import { structs } from './structs.js';

export interface SocketAddress {
  readonly family: number;
  readonly addr: Buffer;
  /** The length to pass with addr. */
  readonly length: number;
}

/** Room for any address getsockname or recvfrom may write. */
export function addressRoom(): { addr: Buffer; length: Buffer } {
  const size = koffi().sizeof(structs().sockaddrStorage);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(size, 0);
  return { addr: Buffer.alloc(size), length };
}

/** sockaddr_in or sockaddr_in6 for host (an IP literal, IPv6 maybe with %scope) and port. */
export function inetAddress(sys: Sys, host: string, port: number): SocketAddress | SysError {
  const k = koffi();
  const t = structs();
  const percent = host.indexOf('%');
  const bare = percent < 0 ? host : host.slice(0, percent);
  const version = isIP(bare);
  if (version === 4 && percent < 0) {
    const addr = Buffer.alloc(k.sizeof(t.sockaddrIn));
    k.encode(addr, 0, t.sockaddrIn, { sin_family: AF_INET, sin_port: port, sin_addr: bare.split('.').map(Number) });
    return { family: AF_INET, addr, length: addr.length };
  }
  if (version === 6) {
    const bytes = Buffer.alloc(16);
    if (sys.inetPton(AF_INET6, bare, bytes) !== 1) return new SysError('EINVAL', `not an IPv6 address: ${host}`);
    let scope = 0;
    if (percent >= 0) {
      const name = host.slice(percent + 1);
      scope = /^[0-9]+$/.test(name) ? Number(name) : sys.ifNameToIndex(name);
      if (!Number.isSafeInteger(scope) || scope <= 0 || scope > 0xffffffff) return new SysError('ENODEV', `no such interface: ${name}`);
    }
    const addr = Buffer.alloc(k.sizeof(t.sockaddrIn6));
    k.encode(addr, 0, t.sockaddrIn6, { sin6_family: AF_INET6, sin6_port: port, sin6_flowinfo: 0, sin6_addr: bytes, sin6_scope_id: scope });
    return { family: AF_INET6, addr, length: addr.length };
  }
  return new SysError('EINVAL', `not an IP address: ${host}`);
}

/**
 * sockaddr_un for `name` (at most UNIX_PATH_MAX bytes): a path, or an
 * abstract name (its first byte NUL, and no terminating NUL in its length).
 */
export function unixAddress(name: Buffer): SocketAddress {
  const k = koffi();
  const t = structs();
  const addr = Buffer.alloc(k.sizeof(t.sockaddrUn));
  k.encode(addr, 0, t.sockaddrUn, { sun_family: AF_UNIX, sun_path: name });
  const abstract = name[0] === 0;
  return { family: AF_UNIX, addr, length: k.offsetof(t.sockaddrUn, 'sun_path') + name.length + (abstract ? 0 : 1) };
}

/** sun_path of a sockaddr_un `length` bytes long: a path, '@name' for an abstract name, '' when unbound. */
export function decodeUnix(addr: Buffer, length: number): string {
  const path = addr.subarray(2, Math.max(2, Math.min(length, addr.length)));
  if (path.length === 0) return '';
  if (path[0] === 0) return `@${path.subarray(1).toString()}`;
  const nul = path.indexOf(0);
  return path.subarray(0, nul < 0 ? path.length : nul).toString();
}

/** The family of the address in addr. */
export function familyOf(addr: Buffer): number {
  return (koffi().decode(addr, 0, structs().sockaddr) as { sa_family: number }).sa_family;
}

/** An inet address as Node would write it ('127.0.0.1', '::ffff:1.2.3.4'…) and its port. */
export function decodeInet(sys: Sys, addr: Buffer): { address: string; port: number } {
  const k = koffi();
  const t = structs();
  if (familyOf(addr) === AF_INET) {
    const v4 = k.decode(addr, 0, t.sockaddrIn) as { sin_port: number; sin_addr: Uint8Array };
    return { address: [...v4.sin_addr].join('.'), port: v4.sin_port };
  }
  const v6 = k.decode(addr, 0, t.sockaddrIn6) as { sin6_port: number; sin6_addr: Uint8Array };
  const text = Buffer.alloc(64);
  const address = sys.inetNtop(AF_INET6, Buffer.from(v6.sin6_addr), text, text.length);
  return { address: address ?? '::', port: v6.sin6_port };
}
