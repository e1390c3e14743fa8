// Accepted stream connections as Connections, for tcp and unix alike. superd
// never reads a byte of a connection a program will serve, so no net.Socket
// (a stream, its buffers and events) is built for it: the libuv handle Node
// accepted is used as it is, and closed once the handler has its copy. Only
// a builtin gets a net.Socket, made from that same handle. Both are bets on
// Node's internals (internals/accept.ts, internals/stream.ts); where the
// check at start found they do not hold, the server's 'connection' event
// and its net.Socket serve instead.
import { Socket, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Connection, Proto } from './connection.js';
import { plainAddress } from './address.js';
import { TCP_CLOSE } from '../sys/constants.js';
import { tcpState } from '../sys/sockets.js';
import { closeHandle, handleFd, hookAccept, peerName, setHandleBlocking, sockName, type AcceptedHandle, type SocketName } from '../internals/accept.js';
import { setSocketBlocking, socketFd } from '../internals/descriptor.js';
import { currentPaths, type InternalsPaths } from '../internals/paths.js';
import { streamFromHandle } from '../internals/stream.js';

export interface Addresses {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  gone: boolean;
}

/**
 * What the kernel says of a tcp handle; a client that already reset has no
 * peer. `known` is the local end when the socket is bound to one address (it
 * is the same for every connection: no getsockname each time).
 */
export function tcpAddresses(handle: AcceptedHandle, known: { address: string; port: number } | null = null): Addresses {
  const peer: SocketName = {};
  const gone = !peerName(handle, peer);
  let local: SocketName | null = known;
  if (local === null) {
    local = {};
    sockName(handle, local);
  }
  return {
    remoteAddress: plainAddress(peer.address),
    remotePort: peer.port ?? 0,
    localAddress: plainAddress(local.address),
    localPort: local.port ?? 0,
    gone,
  };
}

/**
 * A connection on the libuv handle Node accepted. A class, not an object of
 * closures: one is made for every connection.
 */
class HandleConnection implements Connection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly gone: boolean;
  private owner: 'superd' | 'stream' | 'closed' = 'superd';

  constructor(
    private readonly handle: AcceptedHandle,
    readonly proto: Proto,
    addresses: Addresses,
  ) {
    this.remoteAddress = addresses.remoteAddress;
    this.remotePort = addresses.remotePort;
    this.localAddress = addresses.localAddress;
    this.localPort = addresses.localPort;
    this.gone = addresses.gone;
  }

  reset(): boolean {
    return this.proto === 'TCP' && this.owner === 'superd' && tcpState(handleFd(this.handle)) === TCP_CLOSE;
  }

  socketFd(): number {
    return this.owner === 'superd' ? handleFd(this.handle) : -1;
  }

  descriptor(): number {
    setHandleBlocking(this.handle, true);
    return handleFd(this.handle);
  }

  stream(): Duplex {
    this.owner = 'stream';
    return streamFromHandle(this.handle);
  }

  close(): void {
    if (this.owner !== 'superd') return;
    this.owner = 'closed';
    closeHandle(this.handle);
  }
}

export function fromHandle(handle: AcceptedHandle, proto: Proto, addresses: Addresses): Connection {
  return new HandleConnection(handle, proto, addresses);
}

/** The same from the net.Socket of the 'connection' event: where the bare handle is not to be had. */
export function fromSocket(socket: Socket, proto: Proto, localPath: string | null): Connection {
  let owned = false;
  return {
    proto,
    remoteAddress: plainAddress(socket.remoteAddress),
    remotePort: socket.remotePort ?? 0,
    localAddress: localPath ?? plainAddress(socket.localAddress),
    localPort: socket.localPort ?? 0,
    gone: proto === 'TCP' && socket.remoteAddress === undefined,
    reset: () => socket.destroyed,
    socketFd: () => socketFd(socket) ?? -1,
    descriptor: () => {
      setSocketBlocking(socket, true);
      return socketFd(socket) ?? -1;
    },
    stream: () => {
      owned = true;
      socket.resume();
      return socket;
    },
    close: () => {
      if (!owned) socket.destroy();
    },
  };
}

/**
 * Reports every connection the server accepts, and every accept that failed
 * (a status < 0: EMFILE, ENFILE; libuv keeps accepting either way), on the
 * path chosen at start (internals/paths.ts).
 */
export function onAccepted(
  server: Server,
  proto: Proto,
  addresses: (h: AcceptedHandle) => Addresses,
  localPath: string | null,
  report: (conn: Connection) => void,
  failed: (status: number) => void = () => undefined,
  path: InternalsPaths['accept'] = currentPaths().accept,
): void {
  const hooked = path === 'handle' && hookAccept(server, (client) => report(fromHandle(client, proto, addresses(client))), failed);
  if (!hooked) server.on('connection', (socket: Socket) => report(fromSocket(socket, proto, localPath)));
  server.on('error', () => undefined);
}

/**
 * A tcp connection superd accepted itself (a listening socket's backlog,
 * taken before a reload closes it: sys/socket-handover.ts), as the
 * 'connection' event would give it: paused, so nothing is read from it.
 * Null (and the descriptor closed) when Node will not take it.
 */
export function fromAcceptedFd(fd: number, closeFd: (fd: number) => void, proto: Proto = 'TCP', localPath: string | null = null): Connection | null {
  try {
    const options = { fd, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true };
    return fromSocket(new Socket(options as ConstructorParameters<typeof Socket>[0]), proto, localPath);
  } catch {
    closeFd(fd);
    return null;
  }
}
