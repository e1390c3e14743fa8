// Which listener a service gets: the socket kinds side by side.
//
//   program, wait = no, tcp*  → tcp.ts    accepts; each connection to the runtime
//   program, wait = no, unix  → unix.ts   the same on a socket file
//   program, wait = yes       → wait.ts   a native socket, watched, handed over whole
//   builtin, tcp*             → tcp.ts    accepts; superd serves the stream
//   builtin, udp*             → udp.ts    superd reads and answers each datagram
import type { ServiceDefinition } from '../config/types.js';
import type { SuperdError } from '../errors.js';
import type { Listener, ListenerSink } from './connection.js';
import { listenTcp } from './tcp.js';
import { listenUdp } from './udp.js';
import { listenUnix } from './unix.js';
import { listenWait } from './wait.js';

/**
 * `reusePort`: this socket replaces one on an overlapping address that is
 * still open (a reload's hand-over, service/set.ts); only where
 * canTakeOver(def).
 */
export function openListener(def: ServiceDefinition, sink: ListenerSink, reusePort = false): Promise<Listener | SuperdError> {
  const builtin = def.handler.kind === 'builtin';
  if (builtin && def.protocol.startsWith('udp')) return listenUdp(def, (d) => sink.datagram(d), reusePort);
  if (def.wait && !builtin) return listenWait(def, (s) => sink.readable(s), reusePort);
  if (def.protocol === 'unix') return listenUnix(def, (c) => sink.connection(c), (e) => sink.acceptFailed(e));
  return listenTcp(def, (c) => sink.connection(c), (e) => sink.acceptFailed(e), reusePort);
}

/** Whether a socket for def can bind beside an open one on an overlapping address: every inet kind; a unix socket file cannot. */
export function canTakeOver(def: ServiceDefinition): boolean {
  return def.protocol !== 'unix';
}
