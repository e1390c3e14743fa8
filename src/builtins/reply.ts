import type { Duplex } from 'node:stream';
import { whenOver } from './over.js';

/**
 * Sends one reply and ends our side, for daytime and time. The connection is
 * over once the client closes too. Its input is read and dropped meanwhile:
 * closing with unread input would make the kernel reset the connection and
 * throw away the reply before it is sent.
 */
export function replyAndEnd(socket: Duplex, done: () => void, reply: Buffer): void {
  whenOver(socket, done);
  socket.resume();
  socket.end(reply);
}
