// Wait services (SPEC §3): the bound udp socket or listening tcp/unix socket
// itself goes to the handler, so superd must see that it is readable without
// reading or accepting — which Node's dgram and net cannot do. These sockets
// are made natively (sys/sockets.ts) and watched by readiness.ts: an epoll set
// waited on by a thread of its own, not libuv's pool, which the spawn path
// needs (spawn/spawner.ts), and never signal-driven I/O, whose owner a
// handler sharing the socket could aim at superd.
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import type { Listener, PortHandOver, Proto, WaitSocket } from './connection.js';
import { bindFirst, sharedPort, type InetTarget } from './inet.js';
import type { Adopted } from './inherited.js';
import { closeWhenFree } from '../spawn/fd-holds.js';
import { SysError } from '../sys/errors.js';
import { setBlocking } from '../sys/described.js';
import { bindInet, bindUnix, closeDescriptor, type SysSocket } from '../sys/sockets.js';
import { readiness } from './readiness.js';
import { placeServiceSocket } from './unix.js';
import { removeOwnSocket } from './unixpath.js';

interface BoundInetSocket {
  socket: SysSocket;
  target: InetTarget;
}

const isBound = (r: BoundInetSocket | { message: string }): r is BoundInetSocket => 'socket' in r;

interface BoundWait {
  socket: SysSocket;
  address: string;
  note: string | null;
  close: () => Promise<void>;
  /** Null for unix. */
  target: InetTarget | null;
  /** The unix socket file placed here (an upgrade passes it on: src/upgrade/); null otherwise. */
  ownFile: { dev: number; ino: number } | null;
}

/**
 * A socket systemd bound (inherited.ts): the listener's duplicate, made
 * blocking again (a tcp or udp nowait listener before it may have given the
 * same socket to Node, which sets O_NONBLOCK). No hand-over: a replacement
 * adopts the same socket. An inet socket superd made, passed on by an
 * upgrade, is handed over as one bound here (its target).
 */
function adoptedWaitSocket(adopted: Adopted): BoundWait | SuperdError {
  const { fd, socket } = adopted;
  const blocking = setBlocking(fd);
  if (blocking !== null) {
    closeDescriptor(fd);
    return { code: 'bind_failed', message: `cannot serve on the inherited socket ${socket.address}: ${blocking.message}` };
  }
  let open = true;
  const own: SysSocket = {
    fd,
    localAddress: socket.host,
    localPort: socket.port,
    close: () => {
      if (open) closeDescriptor(fd);
      open = false;
    },
  };
  // One an upgrade passed (inherited.ts) is superd's: its file goes with it.
  const ownFile = socket.ownFile ?? null;
  const close = ownFile === null ? async () => undefined : () => removeOwnSocket(socket.host, ownFile);
  const target = socket.boundFor === undefined || socket.family === 'unix' ? null : { host: socket.host, ipv6Only: socket.ipv6Only };
  return { socket: own, address: socket.address, note: null, close, target, ownFile: null };
}

async function bindWaitSocket(def: ServiceDefinition, reusePort: boolean): Promise<BoundWait | SuperdError> {
  if (def.protocol === 'unix') {
    const placed = await placeServiceSocket<SysSocket>(def, (where) => bindUnix({ path: where }));
    if ('code' in placed) return placed;
    return { socket: placed.value, address: def.path ?? '', note: null, close: placed.close, target: null, ownFile: placed.identity };
  }
  const type = def.protocol.startsWith('udp') ? 'dgram' : 'stream';
  const bind = async (target: InetTarget, port: number): Promise<BoundInetSocket | SysError> => {
    const socket = bindInet({ type, host: target.host, port, ipv6Only: target.ipv6Only, reusePort });
    return socket instanceof SysError ? socket : { socket, target };
  };
  const bound = await bindFirst<BoundInetSocket>(def, bind, isBound);
  if ('code' in bound) return bound;
  const { socket, target } = bound.value;
  return { socket, address: bound.address, note: bound.note, close: async () => undefined, target, ownFile: null };
}

/**
 * A running handler holds the socket too (SPEC §3), and superd keeps its own
 * descriptor until close: SO_REUSEPORT set late on it is set on the socket
 * the handler serves on, so a replacement binds at once. Nothing is drained:
 * superd never accepts or reads on a wait socket. What arrives for the old
 * socket's address meanwhile goes to it while anybody holds it (the more
 * specific address wins; equal ones share what arrives, a udp datagram
 * going to one socket or the other): a running handler serves it, and what
 * is still queued when the last holder closes it is lost (a connection
 * reset, a datagram dropped).
 */
function waitHandOver(def: ServiceDefinition, socket: SysSocket, target: InetTarget, isOpen: () => boolean): PortHandOver {
  const type = def.protocol.startsWith('udp') ? 'dgram' : 'stream';
  return sharedPort(socket.fd, { type, host: target.host, port: socket.localPort, ipv6Only: target.ipv6Only }, isOpen);
}

/** `adopted`: on a socket systemd bound (inherited.ts) rather than one bound here. */
export async function listenWait(def: ServiceDefinition, onReadable: (socket: WaitSocket) => void, reusePort = false, adopted: Adopted | null = null): Promise<Listener | SuperdError> {
  const watcher = readiness();
  if (watcher instanceof SysError) return { code: 'bind_failed', message: `wait services need native sockets: ${watcher.message}` };
  const bound = adopted === null ? await bindWaitSocket(def, reusePort) : adoptedWaitSocket(adopted);
  if ('code' in bound) return bound;
  const { socket } = bound;
  const proto: Proto = def.protocol === 'unix' ? 'UNIX' : def.protocol.startsWith('udp') ? 'UDP' : 'TCP';
  const wildcard = socket.localAddress === '0.0.0.0' || socket.localAddress === '::';
  let closed = false;
  const waitSocket: WaitSocket = {
    proto,
    fd: socket.fd,
    localAddress: proto === 'UNIX' ? (adopted?.socket.host ?? def.path ?? '') : wildcard ? '' : socket.localAddress,
    localPort: socket.localPort,
    rearm: () => {
      if (!closed) watcher.watch(socket.fd, report);
    },
    pending: () => !closed && watcher.isReadable(socket.fd),
  };
  // Out of the epoll set before the handler shares the socket: its own traffic must not wake superd.
  const report = (): void => {
    watcher.unwatch(socket.fd);
    if (!closed) onReadable(waitSocket);
  };
  watcher.watch(socket.fd, report);
  const handOver = bound.target === null ? undefined : waitHandOver(def, socket, bound.target, () => !closed);
  return {
    address: bound.address,
    note: bound.note,
    ...(handOver === undefined ? {} : { handOver }),
    ...(adopted === null ? { passable: { fd: socket.fd, ownFile: bound.ownFile } } : {}),
    // The file goes before the socket (see unix.ts); a running handler keeps its own copy and serves on.
    // A spawn still queued names the socket's number: it is closed once that spawn has returned.
    close: async () => {
      if (closed) return;
      closed = true;
      watcher.unwatch(socket.fd);
      await bound.close();
      await closeWhenFree(socket.fd, () => socket.close());
    },
  };
}
