// Bet 3: the descriptor of a net.Socket, read off its libuv handle
// (`socket._handle.fd`), and that handle's setBlocking. Node has no public
// call for either, and superd needs both: to hand a connection accepted
// through the 'connection' event to its handler (blocking: the handler shares
// the file description), and to ask the kernel who is at the other end of
// the control socket (SO_PEERCRED). check.ts proves at start that they
// behave; where they do not, there is no public path, and `superd run`
// refuses to start (commands/run.ts says why).
import type { Server, Socket } from 'node:net';

interface SocketHandle {
  fd?: unknown;
  setBlocking?: (blocking: boolean) => number;
}

const handleOf = (socket: Socket | Server): SocketHandle | null => (socket as unknown as { _handle?: SocketHandle | null })._handle ?? null;

/** The socket's descriptor, or null when it has none (not connected yet, destroyed) or this Node does not show it. */
export function socketFd(socket: Socket): number | null {
  const fd = handleOf(socket)?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

/** A listening server's descriptor, the same way (an upgrade passes it on: src/upgrade/); null when it has none. */
export function serverFd(server: Server): number | null {
  const fd = handleOf(server)?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

/** Sets the socket's descriptor blocking (O_NONBLOCK off) or not: 0, a negative errno, or null when it has no handle to ask. */
export function setSocketBlocking(socket: Socket, blocking: boolean): number | null {
  const handle = handleOf(socket);
  return typeof handle?.setBlocking === 'function' ? handle.setBlocking(blocking) : null;
}
