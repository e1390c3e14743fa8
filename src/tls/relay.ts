// The bytes between a client's TLS session and a handler's plain socket
// (superd's end of the socketpair, connection.ts), both ways, on the event
// loop: never a blocking call. Backpressure both ways: pipe() stops reading
// one side while the other's writes are backed up (each holds at most its
// highWaterMark), so a client that does not read stops the handler's writes
// reaching superd, and a handler that does not read stops the client's;
// superd's memory stays flat however much goes through. Half-close passes
// on both ways (allowHalfOpen on both): the client's close_notify or FIN
// ends the handler's input, and the handler's end of output (its exit, or
// shutdown) ends the session with close_notify once everything before it
// is sent. Each stream closes itself once both its directions are over; an
// error or a reset on one side cuts the other. Once the handler's side is
// closed for good nothing will read the client any more: the session gets
// its last bytes out, then closes, LINGER_MS at most if the client does not
// take them (as the kernel would not keep an orphaned connection forever).
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** How long a session may take to send its last bytes once the handler's side is gone (superd.conf(5)). */
export const LINGER_MS = 30_000;

export function relay(session: TLSSocket, plain: Socket): void {
  // A reset ends a side like a close; 'close' below does the rest.
  session.on('error', () => undefined);
  plain.on('error', () => undefined);
  session.pipe(plain);
  plain.pipe(session);
  // A client that broke off (reset, a failed session) ends the handler's socket too.
  session.once('close', () => {
    if (!session.readableEnded) plain.destroy();
  });
  plain.once('close', () => {
    // The handler broke off: so does the session. Else pipe() has ended the session's output.
    if (!plain.readableEnded || session.writableFinished) return void session.destroy();
    const cut = setTimeout(() => session.destroy(), LINGER_MS);
    session.once('finish', () => session.destroy());
    session.once('close', () => clearTimeout(cut));
  });
}
