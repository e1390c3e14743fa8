import type { Duplex } from 'node:stream';
import { whenOver } from './over.js';

/** How long a client may keep the connection open after its reply: it holds a max_children slot. */
export const LINGER_MS = 10_000;

/**
 * Sends one reply and ends our side, for daytime and time. The connection is
 * over once the client closes too, or LINGER_MS after the reply. Its input is
 * read and dropped meanwhile: closing with unread input would make the kernel
 * reset the connection and throw away the reply before it is sent.
 */
export function replyAndEnd(socket: Duplex, done: () => void, reply: Buffer): void {
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  whenOver(socket, () => {
    clearTimeout(linger);
    done();
  });
  socket.resume();
  socket.end(reply);
}
