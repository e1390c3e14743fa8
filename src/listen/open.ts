// Which listener a service gets: the socket kinds side by side.
//
//   program, wait = no, tcp*  → tcp.ts    accepts; each connection to the runtime
//   program, wait = no, unix  → unix.ts   the same on a socket file
//   program, wait = yes       → wait.ts   a native socket, watched, handed over whole
//   builtin, tcp*             → tcp.ts    accepts; superd serves the stream
//   builtin, udp*             → udp.ts    superd reads and answers each datagram
//
// Each on a socket systemd passed at start where one matches (inherited.ts).
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import type { Listener, ListenerSink } from './connection.js';
import { SysError } from '../sys/errors.js';
import { inheritedSockets, type Adopted } from './inherited.js';
import { adoptTcp, listenTcp } from './tcp.js';
import { adoptUdp, listenUdp } from './udp.js';
import { adoptUnix, listenUnix } from './unix.js';
import { listenWait } from './wait.js';

/**
 * `reusePort`: this socket replaces one on an overlapping address that is
 * still open (a reload's hand-over, service/set.ts); only where
 * canTakeOver(def).
 */
export async function openListener(def: ServiceDefinition, sink: ListenerSink, reusePort = false): Promise<Listener | SuperdError> {
  // A socket systemd bound for this service is adopted, never bound again here.
  const adopted = inheritedSockets.claim(def);
  if (adopted instanceof SysError) return { code: 'bind_failed', message: adopted.message };
  if (adopted !== null) return adoptListener(def, sink, adopted);
  const builtin = def.handler.kind === 'builtin';
  if (builtin && def.protocol.startsWith('udp')) return listenUdp(def, (d) => sink.datagram(d), reusePort);
  if (def.wait && !builtin) return listenWait(def, (s) => sink.readable(s), reusePort);
  if (def.protocol === 'unix') return listenUnix(def, (c) => sink.connection(c), (e) => sink.acceptFailed(e));
  return listenTcp(def, (c) => sink.connection(c), (e) => sink.acceptFailed(e), reusePort);
}

/** The listener on an inherited socket; the socket goes back to the pool once the listener has closed. */
async function adoptListener(def: ServiceDefinition, sink: ListenerSink, adopted: Adopted): Promise<Listener | SuperdError> {
  const builtin = def.handler.kind === 'builtin';
  let listener: Listener | SuperdError;
  if (builtin && def.protocol.startsWith('udp')) listener = await adoptUdp(adopted, (d) => sink.datagram(d));
  else if (def.wait && !builtin) listener = await listenWait(def, (s) => sink.readable(s), false, adopted);
  else if (def.protocol === 'unix') listener = await adoptUnix(adopted, (c) => sink.connection(c), (e) => sink.acceptFailed(e));
  else listener = await adoptTcp(adopted, (c) => sink.connection(c), (e) => sink.acceptFailed(e));
  if ('code' in listener) {
    adopted.release();
    return listener;
  }
  const { close } = listener;
  const { socket } = adopted;
  const ownSocket = socket.boundFor === undefined ? {} : { passable: { fd: adopted.fd, ownFile: socket.ownFile ?? null } };
  return {
    ...listener,
    ...ownSocket,
    inherited: { fd: socket.fd, name: socket.name, from: socket.boundFor === undefined ? 'systemd' : 'upgrade' },
    close: async () => {
      await close();
      adopted.release();
    },
  };
}

/** Whether a socket for def can bind beside an open one on an overlapping address: every inet kind; a unix socket file cannot. */
export function canTakeOver(def: ServiceDefinition): boolean {
  return def.protocol !== 'unix';
}
