// Opens a TCP listening socket for a service and hands over each accepted
// connection as a bare descriptor. superd never reads a byte of them, so no
// net.Socket (a stream, its buffers and events) is built per connection: the
// libuv handle Node accepted is used as it is, and closed once the handler
// has its copy.
import { createServer, type Server, type Socket } from 'node:net';
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { plainAddress } from './address.js';
import type { Connection } from './connection.js';

/** The kernel caps this at net.core.somaxconn. */
const BACKLOG = 1024;

export interface Listener {
  /** `127.0.0.1:7000`, `[::]:7000`: what it is bound to. */
  readonly address: string;
  /** A note worth logging (e.g. no IPv6 on this host), or null. */
  readonly note: string | null;
  close(): void;
}

interface ListenTarget {
  host: string;
  ipv6Only: boolean;
}

function targets(def: ServiceDefinition): ListenTarget[] {
  if (def.bind !== null) return [{ host: def.bind, ipv6Only: def.protocol === 'tcp6' }];
  if (def.protocol === 'tcp4') return [{ host: '0.0.0.0', ipv6Only: false }];
  if (def.protocol === 'tcp6') return [{ host: '::', ipv6Only: true }];
  // One dual-stack socket serves both families; without IPv6, plain IPv4.
  return [
    { host: '::', ipv6Only: false },
    { host: '0.0.0.0', ipv6Only: false },
  ];
}

function listenOnce(server: Server, port: number, target: ListenTarget): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => resolve(err);
    server.once('error', onError);
    server.listen({ port, host: target.host, ipv6Only: target.ipv6Only, backlog: BACKLOG }, () => {
      server.off('error', onError);
      resolve(null);
    });
  });
}

/** The errno name for scripts, and what it means for an operator. */
function describe(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use (EADDRINUSE): another program listens on this port';
    case 'EACCES':
      return 'permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE';
    case 'EADDRNOTAVAIL':
      return 'address not available on this host (EADDRNOTAVAIL)';
    default:
      return err.message;
  }
}

/** The parts of libuv's TCP handle (Node's tcp_wrap) used here. */
interface TcpHandle {
  readonly fd: number;
  getpeername(out: { address?: string; port?: number }): number;
  getsockname(out: { address?: string; port?: number }): number;
  setBlocking(blocking: boolean): number;
  close(): void;
}
interface ServerHandle {
  onconnection?: (status: number, client: TcpHandle | undefined) => void;
}

/**
 * An accepted handle as a Connection. It is made blocking at once: superd
 * never does I/O on it, and the handler shares its file description.
 */
function fromHandle(handle: TcpHandle): Connection {
  const peer: { address?: string; port?: number } = {};
  const local: { address?: string; port?: number } = {};
  handle.getpeername(peer); // fails (address stays unset) when the client already reset
  handle.getsockname(local);
  handle.setBlocking(true);
  return {
    fd: handle.fd,
    remoteAddress: plainAddress(peer.address),
    remotePort: peer.port ?? 0,
    localAddress: plainAddress(local.address),
    localPort: local.port ?? 0,
    close: () => handle.close(),
  };
}

/** The same from a net.Socket: only where Node's handle hook is not there. */
function fromSocket(socket: Socket): Connection {
  const handle = (socket as unknown as { _handle?: TcpHandle })._handle;
  handle?.setBlocking(true);
  return {
    fd: handle?.fd ?? -1,
    remoteAddress: plainAddress(socket.remoteAddress),
    remotePort: socket.remotePort ?? 0,
    localAddress: plainAddress(socket.localAddress),
    localPort: socket.localPort ?? 0,
    close: () => socket.destroy(),
  };
}

export async function listenTcp(def: ServiceDefinition, onConnection: (conn: Connection) => void): Promise<Listener | SuperdError> {
  const port = def.port ?? 0;
  const candidates = targets(def);
  let lastError: NodeJS.ErrnoException | null = null;
  for (const [i, target] of candidates.entries()) {
    const server = createServer({ pauseOnConnect: true });
    const err = await listenOnce(server, port, target);
    if (err === null) {
      const handle = (server as unknown as { _handle?: ServerHandle })._handle;
      if (typeof handle?.onconnection === 'function') {
        // Accept errors (EMFILE) arrive as a status < 0; libuv keeps accepting.
        handle.onconnection = (status, client) => {
          if (status === 0 && client !== undefined) onConnection(fromHandle(client));
        };
      } else {
        server.on('connection', (socket: Socket) => onConnection(fromSocket(socket)));
      }
      server.on('error', () => undefined);
      const note = i > 0 ? `no IPv6 on this host (${lastError?.code ?? 'unknown'}): serving IPv4 only` : null;
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      return { address: `${host}:${port}`, note, close: () => server.close() };
    }
    server.close();
    lastError = err;
    // Only a missing IPv6 stack moves on to the IPv4 fallback.
    if (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL') break;
  }
  return { code: 'bind_failed', message: lastError === null ? 'cannot listen' : describe(lastError) };
}
