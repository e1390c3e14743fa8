// What a descriptor superd did not make is (a socket systemd passed at start,
// sd_listen_fds(3)): its kind, family, whether it listens, what it is bound
// to; and the fcntl(2) calls such a descriptor needs (close-on-exec, a
// duplicate, blocking again).
import { AF_INET, AF_INET6, AF_UNIX, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, FD_CLOEXEC, IPPROTO_IPV6, IPV6_V6ONLY, O_NONBLOCK, SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET } from './constants.js';
import { SysError, errnoError } from './errors.js';
import { libcFunction } from './koffi.js';
import { loadSys, type Sys } from './load.js';
import { addressRoom, decodeInet, decodeUnix } from './sockaddr.js';

interface DescribeCalls {
  /** fcntl(2) with an int argument: what libc returns (-1 on error). */
  fcntl(fd: number, cmd: number, arg: number): number;
}

let bound: DescribeCalls | undefined;

/** Bound on first use (only the daemon's start and its listeners call these, on the main thread). */
function calls(): DescribeCalls {
  if (bound !== undefined) return bound;
  const fcntl = libcFunction('int fcntl(int fd, int cmd, ...)');
  bound = {
    fcntl: (fd, cmd, arg) => fcntl(fd, cmd, 'int', arg) as number,
  };
  return bound;
}

export interface SocketFacts {
  type: 'stream' | 'dgram' | 'other';
  family: 'inet4' | 'inet6' | 'unix' | 'other';
  /** SO_ACCEPTCONN: listen(2) was called on it. */
  listening: boolean;
  /** IPV6_V6ONLY of an IPv6 socket; false for any other. */
  ipv6Only: boolean;
  /** '0.0.0.0', '::', '127.0.0.1'; a unix socket's path ('@name' for an abstract one, '' unbound). */
  address: string;
  /** 0 for unix. */
  port: number;
}

/** What fd is, or why it cannot be said (ENOTSOCK: not a socket; EBADF: not open). */
export function describeSocket(fd: number): SocketFacts | SysError {
  return withSys((sys) => describe(sys, fd));
}

function describe(sys: Sys, fd: number): SocketFacts | SysError {
  const type = sys.intOption(fd, SOL_SOCKET, SO_TYPE);
  if (type === null) return errnoError(sys.errno(), `descriptor ${fd}`);
  const domain = sys.intOption(fd, SOL_SOCKET, SO_DOMAIN) ?? -1;
  const listening = sys.intOption(fd, SOL_SOCKET, SO_ACCEPTCONN) === 1;
  const family = domain === AF_INET ? 'inet4' : domain === AF_INET6 ? 'inet6' : domain === AF_UNIX ? 'unix' : 'other';
  const facts: SocketFacts = {
    type: type === SOCK_STREAM ? 'stream' : type === SOCK_DGRAM ? 'dgram' : 'other',
    family,
    listening,
    ipv6Only: family === 'inet6' && sys.intOption(fd, IPPROTO_IPV6, IPV6_V6ONLY) === 1,
    address: '',
    port: 0,
  };
  if (family === 'other') return facts;
  const { addr, length } = addressRoom();
  if (sys.getsockname(fd, addr, length) < 0) return errnoError(sys.errno(), `descriptor ${fd}`);
  if (family === 'unix') return { ...facts, address: decodeUnix(addr, length.readUInt32LE(0)) };
  return { ...facts, ...decodeInet(sys, addr) };
}


/** The native layer and these calls, or why this host has none. */
function withSys<T>(call: (sys: Sys, own: DescribeCalls) => T): T | SysError {
  const sys = loadSys();
  return sys instanceof SysError ? sys : call(sys, calls());
}

/** FD_CLOEXEC on fd (systemd passes its sockets without it): no handler may inherit it. */
export function setCloseOnExec(fd: number): SysError | null {
  return withSys((sys, own) => {
    const flags = own.fcntl(fd, F_GETFD, 0);
    return flags < 0 || own.fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0 ? errnoError(sys.errno(), `descriptor ${fd}`) : null;
  });
}

/** A close-on-exec duplicate of fd (the same socket), at 3 or above: its number, or why not. */
export function duplicate(fd: number): number | SysError {
  return withSys((sys, own) => {
    const copy = own.fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return copy < 0 ? errnoError(sys.errno(), `duplicating descriptor ${fd}`) : copy;
  });
}

/** O_NONBLOCK off (on the socket itself, which every duplicate shares): a wait handler expects a blocking socket. */
export function setBlocking(fd: number): SysError | null {
  return withSys((sys, own) => {
    const flags = own.fcntl(fd, F_GETFL, 0);
    return flags < 0 || own.fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ? errnoError(sys.errno(), `descriptor ${fd}`) : null;
  });
}
