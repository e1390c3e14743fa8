// RFC 863: read and drop everything; never answer.
import type { Builtin } from './types.js';
import { whenOver } from './over.js';

export const discard: Builtin = {
  serveStream(socket, done) {
    whenOver(socket, done);
    // The socket is half-open: our side stays open until we end it.
    socket.on('end', () => socket.end());
    socket.resume();
  },
  answerDatagram() {
    return null;
  },
};
