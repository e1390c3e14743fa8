// Nowait tcp: a listening socket whose accepted connections go to the runtime
// one by one (accepted.ts says why they stay bare libuv handles). The socket
// is made natively (sys/sockets.ts: the options Node would set) and given to
// Node to listen on, so superd knows its descriptor: a reload can then hand
// its port to a replacement on an overlapping address, and take what waits
// in its backlog before it closes (sys/socket-handover.ts). Without the
// native layer Node makes the socket, and a reload closes it first.
import { createServer, isIPv4, type Server } from 'node:net';
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import { SysError } from '../sys/errors.js';
import { acceptWaiting, dropNewHandshakes, type BoundInet } from '../sys/socket-handover.js';
import { bindInet, closeDescriptor } from '../sys/sockets.js';
import { fromAcceptedFd, onAccepted, tcpAddresses } from './accepted.js';
import type { Connection, Listener, PortHandOver } from './connection.js';
import { bindFirst, sharedPort, type InetTarget } from './inet.js';
import type { Adopted } from './inherited.js';

/** The kernel caps this at net.core.somaxconn. */
export const BACKLOG = 1024;

/**
 * How long a socket that turns new clients away still takes the handshakes
 * under way: a client's last ACK comes a round trip after its SYN (on
 * loopback, at once; across the internet, mostly well within this).
 */
export const HANDSHAKE_SETTLE_MS = 250;

interface TcpSocket {
  server: Server;
  /** Null where Node made the socket (no native layer). */
  fd: number | null;
  target: InetTarget;
}

type Failure = { code?: string; message: string };

/** Node listening on `how`: a host and port, or a descriptor already listening. */
export function serve(how: { port: number; host: string; ipv6Only: boolean } | { fd: number }): Promise<Server | NodeJS.ErrnoException> {
  const server = createServer({ pauseOnConnect: true });
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      resolve(err);
    };
    server.once('error', onError);
    server.listen({ ...how, backlog: BACKLOG }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

async function listenOn(target: InetTarget, port: number, reusePort: boolean): Promise<TcpSocket | Failure> {
  const made = bindInet({ type: 'stream', host: target.host, port, ipv6Only: target.ipv6Only, backlog: BACKLOG, reusePort });
  if (made instanceof SysError && made.code === 'ENOSYS' && !reusePort) {
    const server = await serve({ port, host: target.host, ipv6Only: target.ipv6Only });
    return 'listen' in server ? { server, fd: null, target } : server;
  }
  if (made instanceof SysError) return made;
  // Node owns the descriptor from here (closing the server closes it). It
  // takes any listening tcp socket, so an error here leaves nothing to close.
  const server = await serve({ fd: made.fd });
  return 'listen' in server ? { server, fd: made.fd, target } : server;
}

const isListening = (r: TcpSocket | Failure): r is TcpSocket => 'server' in r;

/**
 * Bound to one IPv4 address: every connection's local end is that address
 * (written as the kernel writes it: validation, and getsockname, give only
 * dotted quads), so it need not be asked per connection. Null otherwise.
 */
function fixedLocalEnd(host: string | null, port: number): { address: string; port: number } | null {
  return host !== null && isIPv4(host) && host !== '0.0.0.0' ? { address: host, port } : null;
}

/** `reusePort`: the replacement's socket in a reload's hand-over (service/set.ts); never otherwise. */
export async function listenTcp(
  def: ServiceDefinition,
  onConnection: (conn: Connection) => void,
  onAcceptFailed: (status: number) => void,
  reusePort = false,
): Promise<Listener | SuperdError> {
  const bound = await bindFirst<TcpSocket>(def, (target, port) => listenOn(target, port, reusePort), isListening);
  if ('code' in bound) return bound;
  const { server, fd, target } = bound.value;
  const known = fixedLocalEnd(def.bind, def.port ?? 0);
  onAccepted(server, 'TCP', (handle) => tcpAddresses(handle, known), null, onConnection, onAcceptFailed);
  let open = true;
  const close = (): void => {
    open = false;
    server.close();
  };
  if (fd === null) return { address: bound.address, note: bound.note, close };
  const handOver = tcpHandOver(fd, { type: 'stream', host: target.host, port: def.port ?? 0, ipv6Only: target.ipv6Only }, () => open, onConnection);
  return { address: bound.address, note: bound.note, close, handOver, passable: { fd, ownFile: null } };
}

/** The hand-over of a nowait tcp socket superd made (here, or before an upgrade): shared, then turning clients away, then drained. */
function tcpHandOver(fd: number, bound: BoundInet, isOpen: () => boolean, onConnection: (conn: Connection) => void): PortHandOver {
  return sharedPort(fd, bound, isOpen, {
    turnAway: () => (isOpen() && dropNewHandshakes(fd) === null ? new Promise((resolve) => setTimeout(resolve, HANDSHAKE_SETTLE_MS)) : null),
    // Accepted and reported in one synchronous step, right before close()
    // (service/set.ts). What is left: a handshake that ends in the moment
    // between the last accept and the close, or is still under way then (its
    // client's last ACK finds no socket, or the new one, and is answered
    // with a reset). A hand-over first turns new clients away for
    // HANDSHAKE_SETTLE_MS (they retry, and find the new socket), so only a
    // handshake slower than that is reset.
    drain: () => {
      if (!isOpen()) return;
      for (const conn of acceptWaiting(fd)) {
        const taken = fromAcceptedFd(conn, closeDescriptor);
        if (taken !== null) onConnection(taken);
      }
    },
  });
}

/**
 * Nowait tcp on a socket systemd bound (inherited.ts): Node listens on the
 * listener's duplicate and closes it with the server; the socket itself
 * stays open in the pool. No hand-over: a replacement adopts the same socket.
 * A socket superd made and an upgrade passed on is the listener's own, and
 * is handed over on reload as the image that made it would have.
 */
export async function adoptTcp(adopted: Adopted, onConnection: (conn: Connection) => void, onAcceptFailed: (status: number) => void): Promise<Listener | SuperdError> {
  const server = await serve({ fd: adopted.fd });
  const { socket } = adopted;
  if (!('listen' in server)) return { code: 'bind_failed', message: `cannot listen on the inherited socket ${socket.address}: ${server.message}` };
  const known = fixedLocalEnd(socket.host, socket.port);
  onAccepted(server, 'TCP', (handle) => tcpAddresses(handle, known), null, onConnection, onAcceptFailed);
  let open = true;
  const close = (): void => {
    open = false;
    server.close();
  };
  if (socket.boundFor === undefined) return { address: socket.address, note: null, close };
  const handOver = tcpHandOver(adopted.fd, { type: 'stream', host: socket.host, port: socket.port, ipv6Only: socket.ipv6Only }, () => open, onConnection);
  return { address: socket.address, note: null, close, handOver };
}
