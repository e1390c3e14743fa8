import type { Duplex } from 'node:stream';

export interface Builtin {
  /** Serves one stream (tcp) connection. Calls done() exactly once, when the connection is over (either side closed, error, or destroyed by the caller). Never buffers without bound: respects write() returning false ('drain'), and pauses reading while its writes are backed up. */
  serveStream(socket: Duplex, done: () => void, now?: () => Date): void;
  /**
   * Goes on serving a stream the old image served before an upgrade
   * (upgrade/): what it had said is said, so daytime and time only linger.
   * Absent (echo, discard, chargen): serveStream serves it as from the
   * start. Calls done() as serveStream does.
   */
  resumeStream?(socket: Duplex, done: () => void): void;
  /** The reply to one datagram (udp), or null for none. One 74-byte line for chargen, whatever the request; echo returns a copy of the request (never longer than the request). */
  answerDatagram(request: Buffer, now?: Date): Buffer | null;
}
