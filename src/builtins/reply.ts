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
  lingerAfter(socket, done, reply);
}

/** After an upgrade (Builtin.resumeStream): the reply went out before it; only the lingering is left. */
export function linger(socket: Duplex, done: () => void): void {
  lingerAfter(socket, done, null);
}

function lingerAfter(socket: Duplex, done: () => void, reply: Buffer | null): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  whenOver(socket, () => {
    clearTimeout(timer);
    done();
  });
  socket.resume();
  if (reply === null) socket.end();
  else socket.end(reply);
}
