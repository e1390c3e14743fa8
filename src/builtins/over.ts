import type { Duplex } from 'node:stream';

/**
 * Calls done() exactly once, when the socket has closed. 'close' is the one
 * event every ending leads to (both ends finished, an error, or a destroy()
 * from the caller), so it is the only one counted.
 */
export function whenOver(socket: Duplex, done: () => void): void {
  // An error only ends the connection; there is nobody to report it to.
  // destroy() makes sure it leads to 'close' even without autoDestroy.
  socket.on('error', () => socket.destroy());
  if (socket.closed) {
    process.nextTick(done);
    return;
  }
  socket.once('close', done);
}
