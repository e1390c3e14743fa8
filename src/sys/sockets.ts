// Sockets made with libc calls, for wait services: superd has to notice that
// such a socket is readable without reading or accepting, and then hand the
// socket itself to a handler, which Node's dgram/net cannot do. The fds made
// here are close-on-exec and stay BLOCKING: the handler shares the open file
// description, and programs like in.tftpd expect blocking stdio. Also the
// unix datagram Node lacks (systemd's NOTIFY_SOCKET), and what superd asks
// of a waiting datagram or a tcp connection.
import { AF_INET, AF_INET6, AF_UNIX, EINTR, ENAMETOOLONG, IPPROTO_IPV6, IPV6_V6ONLY, MSG_DONTWAIT, MSG_PEEK, O_CLOEXEC, SO_REUSEADDR, SO_REUSEPORT, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, UNIX_PATH_MAX } from './constants.js';
import { SysError, errnoError } from './errors.js';
import { loadSys, type Sys } from './load.js';
import { addressRoom, decodeInet, familyOf, inetAddress, unixAddress } from './sockaddr.js';

export interface SysSocket {
  /** Close-on-exec, blocking. */
  readonly fd: number;
  /** From getsockname: '0.0.0.0', '::', '127.0.0.1'…, or the unix path as given to bind. */
  readonly localAddress: string;
  /** 0 for unix. */
  readonly localPort: number;
  /** Idempotent. Unwatch (listen/readiness.ts) before closing: fd numbers are reused. */
  close(): void;
}

class Socket implements SysSocket {
  private closed = false;
  constructor(
    private readonly sys: Sys,
    readonly fd: number,
    readonly localAddress: string,
    readonly localPort: number,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Linux releases the fd even when close reports EINTR/EIO: never retry.
    this.sys.close(this.fd);
  }
}

/** Runs the steps after socket(); on the first failure closes fd and returns the errno as an error. */
function setUp(sys: Sys, fd: number, steps: (() => number)[]): SysError | null {
  for (const step of steps) {
    if (step() < 0) {
      const errno = sys.errno();
      sys.close(fd);
      return errnoError(errno);
    }
  }
  return null;
}

export function intOption(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  return b;
}

/**
 * A udp socket bound, or a tcp socket listening, at host:port (port 0: any
 * free one, see localPort). Stream sockets get SO_REUSEADDR, as Node sets it;
 * an IPv6 socket gets IPV6_V6ONLY set explicitly to ipv6Only. `reusePort`
 * (SO_REUSEPORT) is for a reload's hand-over only (sys/socket-handover.ts):
 * every other bind must find a port in use as taken.
 */
export function bindInet(o: { type: 'stream' | 'dgram'; host: string; port: number; ipv6Only: boolean; backlog?: number; reusePort?: boolean }): SysSocket | SysError {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) return new SysError('EINVAL', `not a port: ${o.port}`);
  const where = inetAddress(sys, o.host, o.port);
  if (where instanceof SysError) return where;
  const stream = o.type === 'stream';
  const fd = sys.socket(where.family, (stream ? SOCK_STREAM : SOCK_DGRAM) | O_CLOEXEC, 0);
  if (fd < 0) return errnoError(sys.errno());
  const steps: (() => number)[] = [];
  if (stream) steps.push(() => sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, intOption(1), 4));
  if (where.family === AF_INET6) steps.push(() => sys.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, intOption(o.ipv6Only ? 1 : 0), 4));
  if (o.reusePort === true) steps.push(() => sys.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, intOption(1), 4));
  steps.push(() => sys.bind(fd, where.addr, where.length));
  if (stream) steps.push(() => sys.listen(fd, o.backlog ?? 1024));
  const failed = setUp(sys, fd, steps);
  if (failed !== null) return failed;
  const { addr, length } = addressRoom();
  if (sys.getsockname(fd, addr, length) < 0) {
    const errno = sys.errno();
    sys.close(fd);
    return errnoError(errno);
  }
  const name = decodeInet(sys, addr);
  return new Socket(sys, fd, name.address, name.port);
}

/** A unix stream socket bound at path (which must not exist) and listening. */
export function bindUnix(o: { path: string; backlog?: number }): SysSocket | SysError {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  const path = Buffer.from(o.path);
  if (path.length === 0 || path.includes(0)) return new SysError('EINVAL', `not a socket path: ${JSON.stringify(o.path)}`);
  if (path.length > UNIX_PATH_MAX) return errnoError(ENAMETOOLONG, `${o.path} is longer than ${UNIX_PATH_MAX} bytes`);
  const where = unixAddress(path);
  const fd = sys.socket(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0);
  if (fd < 0) return errnoError(sys.errno());
  const failed = setUp(sys, fd, [() => sys.bind(fd, where.addr, where.length), () => sys.listen(fd, o.backlog ?? 1024)]);
  if (failed !== null) return failed;
  return new Socket(sys, fd, o.path, 0);
}

/**
 * Sends one datagram to a unix datagram socket (a path, or an abstract name
 * written with a leading '@'), from a socket opened and closed for it. Node
 * has no unix datagram sockets; this is for systemd's NOTIFY_SOCKET.
 */
export function sendUnixDatagram(path: string, message: string): SysError | null {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  const name = Buffer.from(path.startsWith('@') ? `\0${path.slice(1)}` : path);
  if (name.length === 0 || name.length > UNIX_PATH_MAX) return new SysError('EINVAL', `not a socket path: ${JSON.stringify(path)}`);
  const where = unixAddress(name);
  const fd = sys.socket(AF_UNIX, SOCK_DGRAM | O_CLOEXEC, 0);
  if (fd < 0) return errnoError(sys.errno());
  const data = Buffer.from(message);
  const sent = sys.sendto(fd, data, data.length, MSG_DONTWAIT, where.addr, where.length);
  const error = sent < 0 ? errnoError(sys.errno(), path) : null;
  sys.close(fd);
  return error;
}

/**
 * The source of the datagram waiting on a udp socket, without taking it off
 * the queue (MSG_PEEK); null when none is waiting or the socket is not udp.
 */
export function peekSource(fd: number): { address: string; port: number } | null {
  const sys = loadSys();
  if (sys instanceof SysError) return null;
  const { addr, length } = addressRoom();
  if (sys.recvfrom(fd, Buffer.alloc(1), 1, MSG_PEEK | MSG_DONTWAIT, addr, length) < 0) return null;
  const family = familyOf(addr);
  return family === AF_INET || family === AF_INET6 ? decodeInet(sys, addr) : null;
}

/** Takes the waiting datagram off a udp socket and drops it (a one-byte read discards the rest). */
export function dropDatagram(fd: number): void {
  const sys = loadSys();
  if (sys instanceof SysError) return;
  sys.recvfrom(fd, Buffer.alloc(1), 1, MSG_DONTWAIT, null, null);
}

/**
 * recv(2) on a connected stream socket, never blocking (MSG_DONTWAIT): the
 * bytes put in `into` (at most `length`; 0: the peer has closed), or why not
 * (code EAGAIN: nothing has arrived yet). `peek` (MSG_PEEK) leaves them
 * queued for whoever reads next; without it they are taken.
 */
export function receive(fd: number, into: Buffer, length: number, peek: boolean): number | SysError {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  const flags = peek ? MSG_PEEK | MSG_DONTWAIT : MSG_DONTWAIT;
  for (;;) {
    const n = sys.recvfrom(fd, into, Math.min(length, into.length), flags, null, null);
    if (n >= 0) return n;
    const errno = sys.errno();
    if (errno !== EINTR) return errnoError(errno);
  }
}

/** A tcp connection's state (tcpi_state of TCP_INFO: 1 established, 8 close-wait, TCP_CLOSE), or null. */
export function tcpState(fd: number): number | null {
  const sys = loadSys();
  return sys instanceof SysError ? null : sys.tcpState(fd);
}

/**
 * A connected pair of unix stream sockets, both close-on-exec and blocking
 * (tls/: one end is a handler's fd 0 and 1, as an accepted connection is; the
 * other end superd's, which libuv makes non-blocking when Node opens it).
 */
export function streamPair(): [number, number] | SysError {
  const sys = loadSys();
  if (sys instanceof SysError) return sys;
  const fds = new Int32Array(2);
  if (sys.streamSocketPair(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0, fds) !== 0) return errnoError(sys.errno());
  return [fds[0] ?? -1, fds[1] ?? -1];
}

/** Closes a socket descriptor superd holds bare: one made or accepted here that Node would not take, or one systemd passed. */
export function closeDescriptor(fd: number): void {
  const sys = loadSys();
  if (!(sys instanceof SysError)) sys.close(fd);
}
