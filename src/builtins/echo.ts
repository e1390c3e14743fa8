// RFC 862: send back whatever is received.
import type { Builtin } from './types.js';
import { whenOver } from './over.js';

export const echo: Builtin = {
  serveStream(socket, done) {
    whenOver(socket, done);
    socket.on('data', (chunk: Buffer) => {
      // Stop reading while the client is not reading our replies, so a
      // client that only sends cannot make us buffer without bound.
      if (!socket.write(chunk)) socket.pause();
    });
    socket.on('drain', () => socket.resume());
    // The client's end comes after all its data, so end() here follows every
    // echoed byte out.
    socket.on('end', () => socket.end());
    socket.resume();
  },
  answerDatagram(request) {
    return Buffer.from(request);
  },
};
