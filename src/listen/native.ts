// Sockets made with libc calls (through koffi), for wait services: superd has
// to notice that such a socket is readable without reading or accepting, and
// then hand the socket itself to a handler, which Node's dgram/net cannot do.
// The fds made here are close-on-exec and stay BLOCKING: the handler shares
// the open file description, and programs like in.tftpd expect blocking stdio.
// Loaded lazily: where koffi or libc cannot load, the caller gets an error value.
import { openLibc, type KoffiFunc } from '../koffi.js';
import { isIP } from 'node:net';
import { getSystemErrorMap } from 'node:util';

export interface NativeSocket {
  /** Close-on-exec, blocking. */
  readonly fd: number;
  /** From getsockname: '0.0.0.0', '::', '127.0.0.1'…, or the unix path as given to bind. */
  readonly localAddress: string;
  /** 0 for unix. */
  readonly localPort: number;
  /** Idempotent. Unwatch (readiness.ts) before closing: fd numbers are reused. */
  close(): void;
}

export interface NativeError {
  /** The errno name, e.g. 'EADDRINUSE', 'EAFNOSUPPORT'. */
  code: string;
  /** e.g. 'address already in use (EADDRINUSE)'. */
  message: string;
}

/** An error value rather than a socket: anything with a string code and message and no fd (a Node errno error qualifies too). */
export function isNativeError(x: unknown): x is NativeError {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as { code?: unknown; message?: unknown; fd?: unknown };
  return typeof r.code === 'string' && typeof r.message === 'string' && r.fd === undefined;
}

/** The raw calls readiness.ts needs. Each returns what libc returns (-1 on error, see errno()). */
export interface Native {
  /** poll(2) over `count` struct pollfd (8 bytes each: int fd, short events, short revents) in `fds`. */
  poll(fds: Buffer, count: number, timeoutMs: number): number;
  close(fd: number): number;
  errno(): number;
}

// Linux values, the same on x86_64 and aarch64.
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;
export const EINTR = 4;
/** sun_path is 108 bytes, one of them the terminating NUL. */
export const UNIX_PATH_MAX = 107;
const SIZEOF_SOCKADDR_IN = 16;
const SIZEOF_SOCKADDR_IN6 = 28;
const SIZEOF_SOCKADDR_UN = 110;
const SIZEOF_SOCKADDR_STORAGE = 128;

interface Bindings extends Native {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  bind(fd: number, addr: Buffer, length: number): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number, addr: Buffer, length: Buffer): number;
  recvfrom(fd: number, buf: Buffer, size: number, flags: number, addr: Buffer | null, length: Buffer | null): number;
  sendto(fd: number, buf: Buffer, size: number, flags: number, addr: Buffer, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  inetPton(af: number, text: string, dst: Buffer): number;
  inetNtop(af: number, src: Buffer, dst: Buffer, size: number): string | null;
  ifNameToIndex(name: string): number;
}

let cached: Bindings | NativeError | undefined;

function load(): Bindings | NativeError {
  if (cached !== undefined) return cached;
  try {
    const libc = openLibc();
    const fn = (sig: string): KoffiFunc => libc.func(sig);
    const socket = fn('int socket(int domain, int type, int protocol)');
    const setsockopt = fn('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)');
    const bind = fn('int bind(int fd, const void *addr, uint32_t length)');
    const listen = fn('int listen(int fd, int backlog)');
    // Both pointers as void *: koffi passes a Buffer's own memory, which libc fills.
    const getsockname = fn('int getsockname(int fd, void *addr, void *length)');
    const recvfrom = fn('long recvfrom(int fd, void *buf, unsigned long size, int flags, void *addr, void *length)');
    const getsockopt = fn('int getsockopt(int fd, int level, int name, void *value, void *length)');
    const sendto = fn('long sendto(int fd, const void *buf, unsigned long size, int flags, const void *addr, uint32_t length)');
    // Variadic: the optional third argument is passed as ('int', value).
    const poll = fn('int poll(void *fds, unsigned long count, int timeout)');
    const close = fn('int close(int fd)');
    const pton = fn('int inet_pton(int af, const char *src, void *dst)');
    const ntop = fn('const char *inet_ntop(int af, const void *src, void *dst, uint32_t size)');
    const nameToIndex = fn('unsigned int if_nametoindex(const char *name)');
    cached = {
      socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
      setsockopt: (fd, level, name, value, length) => setsockopt(fd, level, name, value, length) as number,
      bind: (fd, addr, length) => bind(fd, addr, length) as number,
      listen: (fd, backlog) => listen(fd, backlog) as number,
      getsockname: (fd, addr, length) => getsockname(fd, addr, length) as number,
      recvfrom: (fd, buf, size, flags, addr, length) => Number(recvfrom(fd, buf, size, flags, addr, length)),
      getsockopt: (fd, level, name, value, length) => getsockopt(fd, level, name, value, length) as number,
      sendto: (fd, buf, size, flags, addr, length) => Number(sendto(fd, buf, size, flags, addr, length)),
      poll: (fds, count, timeoutMs) => poll(fds, count, timeoutMs) as number,
      close: (fd) => close(fd) as number,
      inetPton: (af, text, dst) => pton(af, text, dst) as number,
      inetNtop: (af, src, dst, size) => ntop(af, src, dst, size) as string | null,
      ifNameToIndex: (name) => nameToIndex(name) as number,
      errno: () => libc.errno(),
    };
  } catch (err) {
    cached = { code: 'ENOSYS', message: `native sockets unavailable: ${err instanceof Error ? err.message : String(err)}` };
  }
  return cached;
}

/** The raw calls, or why they cannot be had on this host. */
export function loadNative(): Native | NativeError {
  return load();
}

const errnoMap = getSystemErrorMap();

/** A positive errno value as a NativeError: `address already in use (EADDRINUSE)`. */
export function errnoError(errno: number, context?: string): NativeError {
  const entry = errnoMap.get(-errno);
  const code = entry === undefined ? `E${errno}` : entry[0];
  const text = entry === undefined ? `errno ${errno}` : `${entry[1]} (${entry[0]})`;
  return { code, message: context === undefined ? text : `${context}: ${text}` };
}

function invalid(message: string): NativeError {
  return { code: 'EINVAL', message };
}

class Socket implements NativeSocket {
  private closed = false;
  constructor(
    private readonly lib: Bindings,
    readonly fd: number,
    readonly localAddress: string,
    readonly localPort: number,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Linux releases the fd even when close reports EINTR/EIO: never retry.
    this.lib.close(this.fd);
  }
}

/** Runs the steps after socket(); on the first failure closes fd and returns the errno as an error. */
function setUp(lib: Bindings, fd: number, steps: (() => number)[]): NativeError | null {
  for (const step of steps) {
    if (step() < 0) {
      const errno = lib.errno();
      lib.close(fd);
      return errnoError(errno);
    }
  }
  return null;
}

function intOption(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  return b;
}

/** sockaddr_in / sockaddr_in6 for host (an IP literal, IPv6 maybe with %scope) and port. */
function inetAddress(lib: Bindings, host: string, port: number): { family: number; addr: Buffer } | NativeError {
  const percent = host.indexOf('%');
  const bare = percent < 0 ? host : host.slice(0, percent);
  const version = isIP(bare);
  if (version === 4 && percent < 0) {
    const addr = Buffer.alloc(SIZEOF_SOCKADDR_IN);
    addr.writeUInt16LE(AF_INET, 0); // sa_family_t: host order (little-endian on x86_64, aarch64)
    addr.writeUInt16BE(port, 2);
    bare.split('.').forEach((part, i) => addr.writeUInt8(Number(part), 4 + i));
    return { family: AF_INET, addr };
  }
  if (version === 6) {
    const addr = Buffer.alloc(SIZEOF_SOCKADDR_IN6);
    addr.writeUInt16LE(AF_INET6, 0);
    addr.writeUInt16BE(port, 2);
    // sin6_flowinfo (4..7) stays 0; sin6_addr is 8..23.
    if (lib.inetPton(AF_INET6, bare, addr.subarray(8, 24)) !== 1) return invalid(`not an IPv6 address: ${host}`);
    if (percent >= 0) {
      const scope = host.slice(percent + 1);
      const index = /^[0-9]+$/.test(scope) ? Number(scope) : lib.ifNameToIndex(scope);
      if (!Number.isSafeInteger(index) || index <= 0 || index > 0xffffffff) return { code: 'ENODEV', message: `no such interface: ${scope}` };
      addr.writeUInt32LE(index, 24);
    }
    return { family: AF_INET6, addr };
  }
  return invalid(`not an IP address: ${host}`);
}

/** An inet sockaddr as Node would write its address; IPv4-mapped IPv6 stays as it is. */
function decodeAddress(lib: Bindings, addr: Buffer): { address: string; port: number } {
  const family = addr.readUInt16LE(0);
  const port = addr.readUInt16BE(2);
  if (family === AF_INET) return { address: [...addr.subarray(4, 8)].join('.'), port };
  const text = Buffer.alloc(64);
  const address = lib.inetNtop(AF_INET6, addr.subarray(8, 24), text, text.length);
  return { address: address ?? '::', port };
}

/** The local address and port of fd, as Node would write them. */
function localName(lib: Bindings, fd: number): { address: string; port: number } | number {
  const addr = Buffer.alloc(SIZEOF_SOCKADDR_STORAGE);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(SIZEOF_SOCKADDR_STORAGE);
  if (lib.getsockname(fd, addr, length) < 0) return lib.errno();
  return decodeAddress(lib, addr);
}

const MSG_PEEK = 0x02;
const MSG_DONTWAIT = 0x40;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/** tcpi_state of a connection the peer reset (or that is otherwise gone). */
export const TCP_CLOSE = 7;

/**
 * The source of the datagram waiting on a udp socket, without taking it off
 * the queue (MSG_PEEK); null when none is waiting or the socket is not udp.
 */
export function peekSource(fd: number): { address: string; port: number } | null {
  const lib = load();
  if (isNativeError(lib)) return null;
  const addr = Buffer.alloc(SIZEOF_SOCKADDR_STORAGE);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(SIZEOF_SOCKADDR_STORAGE);
  const one = Buffer.alloc(1);
  if (lib.recvfrom(fd, one, 1, MSG_PEEK | MSG_DONTWAIT, addr, length) < 0) return null;
  const family = addr.readUInt16LE(0);
  return family === AF_INET || family === AF_INET6 ? decodeAddress(lib, addr) : null;
}

/** Takes the waiting datagram off a udp socket and drops it (a one-byte read discards the rest). */
export function dropDatagram(fd: number): void {
  const lib = load();
  if (isNativeError(lib)) return;
  lib.recvfrom(fd, Buffer.alloc(1), 1, MSG_DONTWAIT, null, null);
}

/** A tcp connection's state (tcpi_state of TCP_INFO: 1 established, 8 close-wait, 7 closed), or null. */
export function tcpState(fd: number): number | null {
  const lib = load();
  if (isNativeError(lib)) return null;
  const info = Buffer.alloc(256);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(info.length);
  if (lib.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, length) < 0) return null;
  return info.readUInt8(0);
}

/**
 * A udp socket bound, or a tcp socket listening, at host:port (port 0: any
 * free one, see localPort). Stream sockets get SO_REUSEADDR, as Node sets it;
 * an IPv6 socket gets IPV6_V6ONLY set explicitly to ipv6Only.
 */
export function bindInet(o: { type: 'stream' | 'dgram'; host: string; port: number; ipv6Only: boolean; backlog?: number }): NativeSocket | NativeError {
  const lib = load();
  if (isNativeError(lib)) return lib;
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) return invalid(`not a port: ${o.port}`);
  const where = inetAddress(lib, o.host, o.port);
  if (isNativeError(where)) return where;
  const stream = o.type === 'stream';
  const fd = lib.socket(where.family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError(lib.errno());
  const steps: (() => number)[] = [];
  if (stream) steps.push(() => lib.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, intOption(1), 4));
  if (where.family === AF_INET6) steps.push(() => lib.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, intOption(o.ipv6Only ? 1 : 0), 4));
  steps.push(() => lib.bind(fd, where.addr, where.addr.length));
  if (stream) steps.push(() => lib.listen(fd, o.backlog ?? 1024));
  const failed = setUp(lib, fd, steps);
  if (failed !== null) return failed;
  const name = localName(lib, fd);
  if (typeof name === 'number') {
    lib.close(fd);
    return errnoError(name);
  }
  return new Socket(lib, fd, name.address, name.port);
}

/** A unix stream socket bound at path (which must not exist) and listening. */
export function bindUnix(o: { path: string; backlog?: number }): NativeSocket | NativeError {
  const lib = load();
  if (isNativeError(lib)) return lib;
  const path = Buffer.from(o.path);
  if (path.length === 0 || path.includes(0)) return invalid(`not a socket path: ${JSON.stringify(o.path)}`);
  if (path.length > UNIX_PATH_MAX) return errnoError(36 /* ENAMETOOLONG */, `${o.path} is longer than ${UNIX_PATH_MAX} bytes`);
  const addr = Buffer.alloc(SIZEOF_SOCKADDR_UN);
  addr.writeUInt16LE(AF_UNIX, 0);
  path.copy(addr, 2);
  const fd = lib.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError(lib.errno());
  const failed = setUp(lib, fd, [() => lib.bind(fd, addr, 2 + path.length + 1), () => lib.listen(fd, o.backlog ?? 1024)]);
  if (failed !== null) return failed;
  return new Socket(lib, fd, o.path, 0);
}

/**
 * Sends one datagram to a unix datagram socket (a path, or an abstract name
 * written with a leading '@'), from a socket opened and closed for it. Node
 * has no unix datagram sockets; this is for systemd's NOTIFY_SOCKET.
 */
export function sendUnixDatagram(path: string, message: string): NativeError | null {
  const lib = load();
  if (isNativeError(lib)) return lib;
  const name = Buffer.from(path.startsWith('@') ? `\0${path.slice(1)}` : path);
  if (name.length === 0 || name.length > UNIX_PATH_MAX) return invalid(`not a socket path: ${JSON.stringify(path)}`);
  const addr = Buffer.alloc(SIZEOF_SOCKADDR_UN);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  const fd = lib.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError(lib.errno());
  const data = Buffer.from(message);
  const sent = lib.sendto(fd, data, data.length, MSG_DONTWAIT, addr, 2 + name.length + (path.startsWith('@') ? 0 : 1));
  const error = sent < 0 ? errnoError(lib.errno(), path) : null;
  lib.close(fd);
  return error;
}
