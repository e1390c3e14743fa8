// Accepted stream connections as Connections, for tcp and unix alike. superd
// never reads a byte of a connection a program will serve, so no net.Socket
// (a stream, its buffers and events) is built for it: the libuv handle Node
// accepted is used as it is, and closed once the handler has its copy. Only
// a builtin gets a net.Socket, made from that same handle.
import { Socket, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Connection, Proto } from './connection.js';
import { plainAddress } from './address.js';
import { TCP_CLOSE } from '../sys/constants.js';
import { tcpState } from '../sys/sockets.js';

/** The parts of libuv's stream handles (Node's tcp_wrap, pipe_wrap) used here. */
export interface StreamHandle {
  readonly fd: number;
  getpeername?(out: { address?: string; port?: number }): number;
  getsockname?(out: { address?: string; port?: number }): number;
  setBlocking(blocking: boolean): number;
  close(): void;
}
interface ServerHandle {
  onconnection?: (status: number, client: StreamHandle | undefined) => void;
}

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
export function tcpAddresses(handle: StreamHandle, known: { address: string; port: number } | null = null): Addresses {
  const peer: { address?: string; port?: number } = {};
  const gone = handle.getpeername?.(peer) !== 0;
  let local: { address?: string; port?: number } | null = known;
  if (local === null) {
    local = {};
    handle.getsockname?.(local);
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
    private readonly handle: StreamHandle,
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
    return this.proto === 'TCP' && this.owner === 'superd' && tcpState(this.handle.fd) === TCP_CLOSE;
  }

  descriptor(): number {
    this.handle.setBlocking(true);
    return this.handle.fd;
  }

  stream(): Duplex {
    this.owner = 'stream';
    return new Socket({ handle: this.handle, allowHalfOpen: true, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
  }

  close(): void {
    if (this.owner !== 'superd') return;
    this.owner = 'closed';
    this.handle.close();
  }
}

export function fromHandle(handle: StreamHandle, proto: Proto, addresses: Addresses): Connection {
  return new HandleConnection(handle, proto, addresses);
}

/** The same from a net.Socket: only where Node's handle hook is not there. */
function fromSocket(socket: Socket, proto: Proto, localPath: string | null): Connection {
  let owned = false;
  return {
    proto,
    remoteAddress: plainAddress(socket.remoteAddress),
    remotePort: socket.remotePort ?? 0,
    localAddress: localPath ?? plainAddress(socket.localAddress),
    localPort: socket.localPort ?? 0,
    gone: proto === 'TCP' && socket.remoteAddress === undefined,
    reset: () => socket.destroyed,
    descriptor: () => {
      const handle = (socket as unknown as { _handle?: StreamHandle })._handle;
      handle?.setBlocking(true);
      return handle?.fd ?? -1;
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
 * (a status < 0: EMFILE, ENFILE); libuv keeps accepting either way.
 */
export function onAccepted(
  server: Server,
  proto: Proto,
  addresses: (h: StreamHandle) => Addresses,
  localPath: string | null,
  report: (conn: Connection) => void,
  failed: (status: number) => void = () => undefined,
): void {
  const handle = (server as unknown as { _handle?: ServerHandle })._handle;
  if (typeof handle?.onconnection === 'function') {
    handle.onconnection = (status, client) => {
      if (status === 0 && client !== undefined) report(fromHandle(client, proto, addresses(client)));
      else failed(status);
    };
  } else {
    server.on('connection', (socket: Socket) => report(fromSocket(socket, proto, localPath)));
  }
  server.on('error', () => undefined);
}
