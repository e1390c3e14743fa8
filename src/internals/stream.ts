// Bet 2: a net.Socket built on an accepted handle (accept.ts), for a builtin,
// which reads and writes the connection itself. net.Socket takes a `handle`
// option that its types do not declare: Node builds its own sockets so.
// check.ts proves at start that such a socket reads and writes; where it does
// not, superd accepts through the server's 'connection' event, whose sockets
// builtins use as they are.
import { Socket } from 'node:net';
import type { AcceptedHandle } from './accept.js';

/** A duplex net.Socket that owns `handle` from now on (destroying it closes the handle). Throws what net.Socket throws. */
export function streamFromHandle(handle: AcceptedHandle): Socket {
  return new Socket({ handle, allowHalfOpen: true, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
}
